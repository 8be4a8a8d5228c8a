package dma.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.List;
import java.util.function.DoubleUnaryOperator;
import java.util.function.Supplier;

/**
 * R rounds of ours then the peer, every repetition's figure pooled. The machine's speed drifts by tens of percent
 * within minutes (single ResNet-110 runs of the same code gave ratios from 0.70 to 1.06); rounds put the drift on
 * both sides.
 *
 * @param inner calls per repetition on our side (the last round's)
 * @param ours  our figure per repetition, every round's
 * @param peer  the last round's peer report with every round's figures under {@code key} and their min, median and
 *              max; null without a peer; unavailable when a round's peer was
 */
record Rounds(int inner, double[] ours, Peer.Outcome peer) {
    /**
     * @param timeOurs one round of ours
     * @param figure   our figure from a repetition's seconds (images/s, GFLOP/s)
     * @param runPeer  one round of the peer, or null for none
     * @param key      the figure's name in the peer's report
     */
    static Rounds run(int rounds, Supplier<Timing.Result> timeOurs, DoubleUnaryOperator figure, Supplier<Peer.Outcome> runPeer, String key) {
        if (rounds < 1) throw new IllegalArgumentException("--rounds must be at least 1, got " + rounds);
        List<Double> ours = new ArrayList<>(), theirs = new ArrayList<>();
        int inner = 1;
        Peer.Outcome peer = null;
        for (int r = 0; r < rounds; r++) {
            Timing.Result t = timeOurs.get();
            inner = t.inner();
            for (double s : t.seconds()) ours.add(figure.applyAsDouble(s));
            if (runPeer == null || (peer != null && !peer.available())) continue;
            peer = runPeer.get();
            if (peer.available()) peer.result().path(key).forEach(v -> theirs.add(v.asDouble()));
        }
        if (peer != null && peer.available() && rounds > 1) {
            ObjectNode pooled = peer.result().deepCopy(), stats = Report.side("peer", 0, key, unbox(theirs));
            for (String k : new String[]{key, "min", "median", "max"}) pooled.set(k, stats.get(k));
            peer = new Peer.Outcome(pooled, null);
        }
        return new Rounds(inner, unbox(ours), peer);
    }

    private static double[] unbox(List<Double> values) {
        return values.stream().mapToDouble(Double::doubleValue).toArray();
    }
}
