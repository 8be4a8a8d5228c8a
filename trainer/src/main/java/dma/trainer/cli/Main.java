package dma.trainer.cli;

import dma.engine.BackendUnavailableException;
import dma.engine.cuda.CudaException;
import dma.engine.io.SafetensorsException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ServiceLoader;

/**
 * The {@code dma} command line: one entry point, subcommands from every module on the class path, and one error path:
 * a failure with a known cause (bad input, a missing file, a run directory in a bad state, out of memory) is one line
 * {@code dma <command>: <what is wrong>} and exit code 2; anything else is a bug, reported in one line that says where
 * its full trace was written, with exit code 3. {@code --verbose} or {@code DMA_DEBUG=1} prints the trace as well.
 */
@Command(name = "dma", mixinStandardHelpOptions = true, version = "dma 0.1.0",
        description = "A JVM training engine for Deep Model Assembling: train a deep model by dividing it into modules.",
        synopsisSubcommandLabel = "COMMAND")
public final class Main implements Runnable {
    /** Exit codes: a known cause the user can fix, and a bug. */
    public static final int BAD_INPUT = 2, BUG = 3;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--verbose", scope = ScopeType.INHERIT, description = "On a failure, print the full stack trace too (also: DMA_DEBUG=1).")
    static boolean verbose;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static CommandLine commandLine() {
        verbose = false;
        CommandLine cl = new CommandLine(new Main());
        for (Subcommand s : ServiceLoader.load(Subcommand.class)) cl.addSubcommand(s);
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> report(e, cmd.getCommandSpec().qualifiedName(), cmd.getErr()));
        return cl;
    }

    /** Prints one line for {@code e}, thrown by {@code command}, and returns the exit code (the trace goes to a file, or with --verbose to err). */
    static int report(Throwable e, String command, PrintWriter err) {
        boolean debug = verbose || "1".equals(System.getenv("DMA_DEBUG"));
        String known = knownCause(e);
        if (known != null) {
            err.println(command + ": " + known);
            if (debug) e.printStackTrace(err);
            return BAD_INPUT;
        }
        StringWriter trace = new StringWriter();
        e.printStackTrace(new PrintWriter(trace));
        String where;
        try {
            Path f = Files.createTempFile("dma-error-", ".txt");
            Files.writeString(f, command + "\n" + trace);
            where = "its trace is in " + f;
        } catch (IOException io) {
            where = "its trace could not be written (" + io.getMessage() + "); run again with --verbose";
        }
        err.println(command + ": internal error, a bug in dma (please report it): " + e + "; " + where);
        if (debug) err.print(trace);
        return BUG;
    }

    /** The one-line message of a failure the user can do something about, or null for a bug. */
    static String knownCause(Throwable e) {
        if (e instanceof UncheckedIOException u && u.getCause() != null) {
            String cause = io(u.getCause()), raw = u.getCause().getMessage();
            String msg = u.getMessage();
            if (msg == null || msg.equals(u.getCause().toString()) || msg.equals(raw)) return oneLine(cause);
            // readers prefix the file or stage to the cause's own text: keep the prefix, then say what happened in plain words
            if (raw != null && msg.endsWith(raw)) return oneLine(msg.substring(0, msg.length() - raw.length()) + cause);
            return oneLine(msg.replace(u.getCause().toString(), cause));
        }
        if (e instanceof IOException io) return oneLine(io(io));
        if (e instanceof IllegalArgumentException || e instanceof IllegalStateException || e instanceof SafetensorsException
                || e instanceof BackendUnavailableException || e instanceof CudaException) return oneLine(e.getMessage());
        if (e instanceof OutOfMemoryError oom)
            return "out of memory: " + oom.getMessage() + " (a smaller batch_size, or more memory: java -Xmx… for the JVM's own heap)";
        return null;
    }

    /** A message as one line: what a parser puts on further lines (where in the input) joined to the first. */
    private static String oneLine(String message) {
        return message == null ? null : dma.trainer.report.JsonFile.oneLine(message.strip());
    }

    /**
     * What an I/O failure means, naming the file: "F: no such file", "F: permission denied", a JSON parser's complaint
     * with its line and column, else its message.
     */
    static String io(Throwable e) {
        if (e instanceof com.fasterxml.jackson.core.JsonProcessingException j) return dma.trainer.report.JsonFile.describe(j);
        if (e instanceof NoSuchFileException n) return n.getFile() + ": no such file or directory";
        if (e instanceof AccessDeniedException a) return a.getFile() + ": permission denied";
        if (e instanceof FileSystemException f && f.getFile() != null)
            return f.getFile() + ": " + (f.getReason() != null ? f.getReason() : f.getClass().getSimpleName());
        return e.getMessage() != null ? e.getMessage() : e.toString();
    }

    public static void main(String[] args) {
        int code = commandLine().execute(args);
        System.exit(code);
    }
}
