package dma.trainer.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.util.ServiceLoader;

/** The {@code dma} command line: one entry point, subcommands from every module on the class path. */
@Command(name = "dma", mixinStandardHelpOptions = true, version = "dma 0.1.0",
        description = "A JVM training engine for Deep Model Assembling: train a deep model by dividing it into modules.",
        synopsisSubcommandLabel = "COMMAND")
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        for (Subcommand s : ServiceLoader.load(Subcommand.class)) cl.addSubcommand(s);
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        // bad input (a config field, a file, a shape) and stopped training are reported as one clear line, not a stack trace
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
            if (e instanceof IllegalArgumentException || e instanceof IllegalStateException || e instanceof java.io.UncheckedIOException
                    || e instanceof dma.engine.BackendUnavailableException) {
                cmd.getErr().println("dma " + cmd.getCommandName() + ": " + e.getMessage());
                return 2;
            }
            throw e;
        });
        return cl;
    }

    public static void main(String[] args) {
        int code = commandLine().execute(args);
        System.exit(code);
    }
}
