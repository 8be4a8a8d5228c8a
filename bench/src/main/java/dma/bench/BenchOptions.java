package dma.bench;

import picocli.CommandLine.Option;

/** Flags every {@code bench} workload shares. */
public final class BenchOptions {
    /** Fewer repetitions make the median on this shared, noisy machine meaningless. */
    static final int MIN_REPS = 5;

    @Option(names = "--reps", description = "Timed repetitions, at least " + MIN_REPS + " (default: ${DEFAULT-VALUE}).")
    int reps = MIN_REPS;

    @Option(names = "--threads", description = "Threads for ours and the peer (default: the machine's cores, ${DEFAULT-VALUE}).")
    int threads = Runtime.getRuntime().availableProcessors();

    @Option(names = "--json", description = "Print one JSON object with every figure on stdout, and nothing else there.")
    boolean json;

    @Option(names = "--no-peer", description = "Time ours alone, without running the PyTorch peer.")
    boolean noPeer;

    @Option(names = "--rounds", description = {"Rounds of ours then the peer, every repetition pooled (default: ${DEFAULT-VALUE}).",
            "The machine's speed drifts within minutes: several rounds put the drift on both sides."})
    int rounds = 1;
}
