package dma.trainer.stage;

import dma.engine.Backend;
import dma.engine.OpProfile;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/**
 * {@code --trace FILE --trace-steps N} of the training stages: a timeline of N training steps of each stage that trains
 * in this process ({@link OpProfile} traced, written in the Chrome Trace Event format), to FILE with the stage's name
 * inserted before the extension ({@code trace.json} → {@code trace-meta.json}, {@code trace-incubate-0.json}), so the
 * stages of one process never overwrite each other's.
 *
 * <p>The steps come after a warm-up of {@link #WARMUP} steps (of those this process runs: a resumed stage warms up
 * again), because the first steps are slow for reasons a timeline of the steady state should not show: the JIT compiling
 * the kernels' loops, the allocator's caches and the data loader's queue filling, OpenBLAS or cuBLAS starting. (A stage's
 * first epoch boundary would come too late: an epoch of Fashion-MNIST is 1875 steps at batch 32.) A stage too short for
 * both has its last N steps traced. While traced, every op synchronizes the device, so those steps are slower. What runs
 * between the traced steps (progress, metrics, an evaluation, a checkpoint) is left out: the timeline shows a gap.
 *
 * @param file  where the timelines go, before the stage's name is inserted
 * @param steps training steps per stage, at least 1
 */
public record StageTrace(Path file, int steps) {
    /** Steps run before the traced ones. */
    public static final int WARMUP = 5;

    /** Traced steps per stage when not given. */
    public static final int DEFAULT_STEPS = 3;

    public StageTrace {
        if (file == null) throw new IllegalArgumentException("a trace needs a file");
        if (steps < 1) throw new IllegalArgumentException(RunArgs.TRACE_STEPS + " must be at least 1, got " + steps);
    }

    /** The file of {@code stage}'s timeline: the stage's name inserted before the extension (or appended without one). */
    public Path fileFor(String stage) {
        String name = file.getFileName().toString();
        int dot = name.lastIndexOf('.');
        String mine = dot > 0 ? name.substring(0, dot) + "-" + stage + name.substring(dot) : name + "-" + stage;
        return file.resolveSibling(mine);
    }

    /** What traces one run of a stage's training loop; does nothing when {@code trace} is null. */
    static Recorder recorder(StageTrace trace, String stage, Backend backend) {
        return new Recorder(trace, stage, backend);
    }

    /**
     * The training loop's side of a trace: told before and after each step, it opens a traced profile at the first
     * traced step, names each step on the timeline, and writes the file after the last (or, when the loop stops early,
     * the steps it completed, when it is closed).
     */
    static final class Recorder implements AutoCloseable {
        private final StageTrace trace;
        private final String stage;
        private final Backend backend;
        private long first = -1, last;
        private OpProfile profile;
        private int done;

        private Recorder(StageTrace trace, String stage, Backend backend) {
            this.trace = trace;
            this.stage = stage;
            this.backend = backend;
        }

        /** Before step {@code step} (from 0) of {@code total} runs. */
        void beforeStep(long step, long total) {
            if (trace == null) return;
            if (first < 0) { // the first step this process runs: a resumed stage starts late
                first = step + Math.max(0, Math.min(WARMUP, total - step - trace.steps()));
                last = Math.min(total, first + trace.steps()) - 1;
            }
            if (step == first && profile == null && done == 0) profile = OpProfile.open(backend, true);
            if (profile == null) return;
            profile.resume();
            profile.stepStarts("step " + (step + 1)); // counted from 1, as metrics.jsonl counts them
        }

        /** After step {@code step}'s optimizer update (its scope closed). */
        void afterStep(long step) {
            if (profile == null) return;
            OpProfile.mark("optimizer step");
            profile.stepEnded();
            done++;
            if (step >= last) finish();
            else profile.pause(); // what runs between the steps (progress, metrics, evaluation) stays out of the timeline
        }

        private void finish() {
            OpProfile p = profile;
            profile = null;
            p.close();
            Path out = trace.fileFor(stage);
            try {
                p.trace().write(out, "dma " + stage);
            } catch (IOException e) {
                throw new UncheckedIOException(RunArgs.TRACE + " " + out + ": " + e.getMessage(), e);
            }
            System.err.printf("%s: trace of %d step%s (%d events) in %s (open it in ui.perfetto.dev or chrome://tracing)%n", stage, done,
                    done == 1 ? "" : "s", p.trace().size(), out);
        }

        /** Ends a trace the loop left open (it stopped early): the steps it completed are written, if any. */
        @Override
        public void close() {
            if (profile == null) return;
            if (done > 0) finish();
            else {
                profile.close(); // paused or not
                profile = null;
            }
        }
    }
}
