package dma.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** The PyTorch peer: bench/peers/torch_bench.py run by Debian's interpreter as a child process. */
final class Peer {
    static final String SCRIPT = "bench/peers/torch_bench.py";
    /** Debian's python3 has python3-torch; the python3 first on PATH may be another (pyenv) without torch. */
    static final String PYTHON = System.getProperty("dma.peer.python", "/usr/bin/python3");
    static final String HINT = "install it with: apt-get install python3-torch";

    /** The peer's JSON, or why there is none. */
    record Outcome(ObjectNode result, String unavailable) {
        boolean available() { return result != null; }
    }

    private Peer() {}

    static Outcome run(int threads, String workload, String... args) {
        if (!Files.isExecutable(Path.of(PYTHON))) return fail(PYTHON + " not found (Debian's python3 with torch; " + HINT + ")");
        Path script = findScript();
        if (script == null) return fail(SCRIPT + " not found under -Ddma.home, the current directory or above the jar; set -Ddma.home=<repository root>");
        List<String> cmd = new ArrayList<>(List.of(PYTHON, script.toString(), workload));
        cmd.addAll(List.of(args));
        cmd.addAll(List.of("--threads", String.valueOf(threads)));
        try {
            Process p = new ProcessBuilder(cmd).start();
            p.getOutputStream().close();
            // drain stderr alongside stdout, so a chatty child cannot block on a full pipe
            CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> read(p.getErrorStream()));
            String out = read(p.getInputStream());
            if (!p.waitFor(30, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                return fail("the peer did not finish within 30 minutes");
            }
            String stderr = err.join().strip();
            if (p.exitValue() != 0) {
                String last = stderr.isEmpty() ? "" : stderr.substring(stderr.lastIndexOf('\n') + 1);
                // status 3: the script could not import torch and said so (with the install hint)
                return fail(p.exitValue() == 3 ? last : "the peer exited with status " + p.exitValue() + ": " + last);
            }
            return new Outcome((ObjectNode) Report.JSON.readTree(out), null);
        } catch (IOException | RuntimeException e) {
            return fail("could not run " + String.join(" ", cmd) + ": " + e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return fail("interrupted");
        }
    }

    private static Outcome fail(String reason) {
        return new Outcome(null, reason);
    }

    /** -Ddma.home if set, else the current directory, else the nearest directory above the jar (or classes folder) that holds the script. */
    static Path findScript() {
        String home = System.getProperty("dma.home");
        if (home != null) {
            Path p = Path.of(home, SCRIPT);
            return Files.isRegularFile(p) ? p : null;
        }
        Path cwd = Path.of(SCRIPT).toAbsolutePath();
        if (Files.isRegularFile(cwd)) return cwd;
        try {
            for (Path d = Path.of(Peer.class.getProtectionDomain().getCodeSource().getLocation().toURI()); d != null; d = d.getParent())
                if (Files.isRegularFile(d.resolve(SCRIPT))) return d.resolve(SCRIPT);
        } catch (URISyntaxException | RuntimeException e) {
            return null; // no file location (e.g. a custom class loader): nothing to walk up from
        }
        return null;
    }

    private static String read(InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }
}
