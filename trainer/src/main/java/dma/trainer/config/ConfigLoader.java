package dma.trainer.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;

import dma.trainer.report.JsonFile;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Collectors;

/** Reads a {@link RunConfig} strictly and turns Jackson's errors into messages that name the field. */
public final class ConfigLoader {
    static final ObjectMapper JSON = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
            .enable(SerializationFeature.INDENT_OUTPUT);

    private ConfigLoader() {}

    public static RunConfig read(Path file) {
        if (!Files.isRegularFile(file)) throw new ConfigException(file + ": config file not found");
        try (InputStream in = Files.newInputStream(file)) {
            return parse(file.toString(), in.readAllBytes());
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": " + e.getMessage(), e);
        }
    }

    /** The embedded default (resources/default-config.json): the README's main job. */
    public static RunConfig defaults() {
        try (InputStream in = ConfigLoader.class.getResourceAsStream("/default-config.json")) {
            return parse("default-config.json", in.readAllBytes());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A config from its JSON bytes (a file, or a study's cell); anything wrong is a ConfigException whose one-line message starts with {@code origin}. */
    public static RunConfig parse(String origin, byte[] json) {
        RunConfig config;
        try {
            config = JSON.readValue(json, RunConfig.class);
        } catch (UnrecognizedPropertyException e) {
            throw new ConfigException(origin + ": unknown field '" + path(e) + "'; known fields here: "
                    + e.getKnownPropertyIds().stream().map(Object::toString).sorted().collect(Collectors.joining(", ")));
        } catch (MismatchedInputException e) {
            throw new ConfigException(origin + ": field '" + path(e) + "' has the wrong type: " + JsonFile.oneLine(firstLine(e.getOriginalMessage())));
        } catch (JsonProcessingException e) {
            throw new ConfigException(origin + ": not valid JSON: " + JsonFile.describe(e));
        } catch (IOException e) { // a CharConversionException: not text in the encoding Jackson detected (UTF-32 from "{\0\0\0")
            throw new ConfigException(origin + ": not valid JSON text: " + e.getMessage());
        }
        if (config == null) throw new ConfigException(origin + ": the config is JSON null, expected an object");
        return config;
    }

    private static String firstLine(String message) {
        return message == null ? "" : message.lines().findFirst().orElse("");
    }

    private static String path(JsonMappingException e) {
        return JsonFile.oneLine(e.getPath().stream().map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
                .collect(Collectors.joining(".")).replace(".[", "["));
    }

    public static String toJson(Object value) {
        try {
            return JSON.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * A config that cannot be used; the message names the file and the field. It is one line: a value quoted from the
     * file keeps its control characters (a newline) as spaces, so the command line's one-line report stays one line.
     */
    public static final class ConfigException extends IllegalArgumentException {
        public ConfigException(String message) {
            super(JsonFile.oneLine(message));
        }
    }
}
