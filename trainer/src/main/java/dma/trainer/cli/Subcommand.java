package dma.trainer.cli;

/**
 * A picocli {@code @Command} that the {@code dma} launcher discovers through {@link java.util.ServiceLoader}
 * (listed in META-INF/services/dma.trainer.cli.Subcommand). Modules above the trainer, such as bench,
 * add their commands this way without the trainer importing them.
 */
public interface Subcommand {
}
