package dma.trainer.optim;

/** Per-step learning rate: linear warm-up from {@code warmupLr} to {@code peak}, then cosine down to {@code minLr}. */
public record Schedule(double peak, double warmupLr, double minLr, long warmupSteps, long totalSteps) {
    public double at(long step) {
        if (step < warmupSteps) return warmupLr + (peak - warmupLr) * step / (double) warmupSteps;
        long decay = Math.max(1, totalSteps - warmupSteps);
        double t = Math.min(1.0, (step - warmupSteps) / (double) decay);
        return minLr + 0.5 * (peak - minLr) * (1 + Math.cos(Math.PI * t));
    }
}
