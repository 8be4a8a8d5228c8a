package dma.trainer.launch;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * How another process runs this same {@code dma}: the same java and the same class path, as absolute paths, so a
 * child process or a job on another node (where the same paths are mounted) runs exactly this build.
 *
 * @param java      absolute path of the java launcher
 * @param classPath absolute class path
 * @param script    the repository's {@code ./dma} script when this process runs its jar, else null: what people type
 */
public record DmaCommand(String java, String classPath, String script) {
    public static final String MAIN = "dma.trainer.cli.Main";
    /**
     * The JVM flags of every dma process, as ./dma passes them: the Vector API the CPU kernels need (an incubator
     * module in Java 17), a young generation capped at 64 MB (tensors live off the heap; without the cap it grows
     * to hundreds of MB of short-lived staging arrays, resident memory that buys no speed), and the serial collector:
     * until the JIT has compiled the CPU kernels' Vector API loops, every vector operation allocates, and G1 answered
     * those seconds of garbage by committing (and touching) gigabytes of heap it never gave back (the ViT step of
     * DESIGN §5: 1127 MB peak RSS against 855 MB with this collector, at the same speed; its young collections of a
     * 64 MB generation holding a few MB take 1–2 ms).
     */
    public static final List<String> JVM_FLAGS = List.of("--add-modules", "jdk.incubator.vector", "-XX:MaxNewSize=64m", "-XX:+UseSerialGC");
    private static final Pattern PLAIN = Pattern.compile("[A-Za-z0-9_./:=,+@%-]+");

    /** This process's java and class path. */
    public static DmaCommand current() {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toAbsolutePath().toString();
        List<String> cp = new ArrayList<>();
        for (String e : System.getProperty("java.class.path").split(File.pathSeparator))
            if (!e.isEmpty()) cp.add(Path.of(e).toAbsolutePath().normalize().toString());
        String script = null;
        if (cp.size() == 1 && cp.get(0).endsWith("/bench/target/dma.jar")) {
            Path s = Path.of(cp.get(0)).getParent().getParent().getParent().resolve("dma");
            if (Files.isExecutable(s)) script = s.toString();
        }
        return new DmaCommand(java, String.join(File.pathSeparator, cp), script);
    }

    /** The argument vector of {@code dma args...} run through java. */
    public List<String> argv(List<String> args) {
        List<String> cmd = new ArrayList<>(List.of(java));
        cmd.addAll(JVM_FLAGS);
        cmd.addAll(List.of("-cp", classPath, MAIN));
        cmd.addAll(args);
        return cmd;
    }

    /** A shell line of {@code dma args...}: through ./dma where this build came from it, else through java. */
    public String display(List<String> args) {
        if (script == null) return shell(argv(args));
        List<String> cmd = new ArrayList<>(List.of(script));
        cmd.addAll(args);
        return shell(cmd);
    }

    /** Words joined into a POSIX shell line, each quoted when it needs to be. */
    public static String shell(List<String> words) {
        StringBuilder b = new StringBuilder();
        for (String w : words) {
            if (b.length() > 0) b.append(' ');
            b.append(quote(w));
        }
        return b.toString();
    }

    public static String quote(String w) {
        return !w.isEmpty() && PLAIN.matcher(w).matches() ? w : "'" + w.replace("'", "'\\''") + "'";
    }
}
