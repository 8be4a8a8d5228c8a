package dma.engine;

/**
 * Counts the floating-point work of matrix products (GEMMs, convolutions, attention) as it is issued,
 * split into forward, input-gradient and weight-gradient work: 2·m·n·k per product. Elementwise work is
 * left out (it is a few percent of a ViT or ResNet step). A gradient with respect to a leaf (a parameter)
 * is weight-gradient work; any other is input-gradient work. Because frozen parameters get no gradient
 * and a tape-less prefix has no backward, frozen parts are counted as what they really cost.
 * Counts are per thread, so concurrent trainings in one JVM do not mix.
 */
public final class Flops {
    public enum Kind { FORWARD, INPUT_GRAD, WEIGHT_GRAD }

    private static final ThreadLocal<long[]> COUNTS = ThreadLocal.withInitial(() -> new long[3]);

    private Flops() {}

    public static void add(Kind kind, long flops) {
        COUNTS.get()[kind.ordinal()] += flops;
    }

    /** Work of the gradient with respect to {@code operand}: weight-gradient for a leaf, input-gradient otherwise. */
    public static void addGradient(Tensor operand, long flops) {
        add(operand.isLeaf() ? Kind.WEIGHT_GRAD : Kind.INPUT_GRAD, flops);
    }

    /** The counts so far on this thread. */
    public static Count now() {
        long[] c = COUNTS.get();
        return new Count(c[0], c[1], c[2]);
    }

    /** A point-in-time count; subtract two to get the work between them. */
    public record Count(long forward, long inputGrad, long weightGrad) {
        public long total() {
            return forward + inputGrad + weightGrad;
        }

        public Count minus(Count earlier) {
            return new Count(forward - earlier.forward, inputGrad - earlier.inputGrad, weightGrad - earlier.weightGrad);
        }

        public Count plus(Count other) {
            return new Count(forward + other.forward, inputGrad + other.inputGrad, weightGrad + other.weightGrad);
        }
    }
}
