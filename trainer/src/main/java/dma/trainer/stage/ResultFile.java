package dma.trainer.stage;

import dma.engine.io.AtomicFile;
import com.fasterxml.jackson.databind.ObjectMapper;
import dma.trainer.report.JsonFile;
import dma.trainer.report.Summary;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** A stage's {@code result.json}: written last and atomically, it marks the stage finished. */
final class ResultFile {
    static final String NAME = "result.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    private ResultFile() {}

    static void write(Path stageDir, Summary.StageResult result) {
        Path file = stageDir.resolve(NAME);
        try {
            Files.createDirectories(stageDir);
            AtomicFile.write(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(result));
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": " + e.getMessage(), e);
        }
    }

    /** The stage's result; a file that cannot be read or is not a stage result is an UncheckedIOException naming it, in one line. */
    static Summary.StageResult read(Path stageDir) {
        Path file = stageDir.resolve(NAME);
        return JsonFile.readUnchecked(JSON, file, Summary.StageResult.class, "stage result");
    }
}
