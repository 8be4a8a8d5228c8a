package dma.trainer.report;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Collectors;

/**
 * Reads the JSON files a run keeps (result.json, launch.json, summary.json): a file that is not what it should be is
 * an IOException with a one-line message naming the file, the field and the place, never Jackson's own message (which
 * runs over several lines and quotes the input) and never a null.
 */
public final class JsonFile {
    private JsonFile() {}

    /** {@code file} read as a {@code type} ({@code what} names it in messages: "stage result"). */
    public static <T> T read(ObjectMapper mapper, Path file, Class<T> type, String what) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        T value;
        try {
            value = mapper.readValue(bytes, type);
        } catch (JsonProcessingException e) {
            throw new IOException(file + ": not a valid " + what + ": " + describe(e), e);
        } catch (IOException e) { // a CharConversionException: not text in the encoding Jackson detected (UTF-32 from "{\0\0\0")
            throw new IOException(file + ": not a valid " + what + ": not JSON text: " + oneLine(String.valueOf(e.getMessage())), e);
        }
        if (value == null) throw new IOException(file + ": not a valid " + what + ": it is JSON null");
        return value;
    }

    /** {@link #read}, its IOException as an UncheckedIOException whose message names the file (for callers without a throws clause). */
    public static <T> T readUnchecked(ObjectMapper mapper, Path file, Class<T> type, String what) {
        try {
            return read(mapper, file, type, what);
        } catch (IOException e) {
            String message = e.getMessage() != null && e.getMessage().contains(file.toString()) ? e.getMessage() : file + ": " + e;
            throw new UncheckedIOException(message, e);
        }
    }

    /** What a Jackson error says, in one line: its first line, the field it was reading and where in the file. */
    public static String describe(JsonProcessingException e) {
        String message = e.getOriginalMessage() == null ? e.getClass().getSimpleName() : e.getOriginalMessage().lines().findFirst().orElse("");
        if (message.length() > 200) message = message.substring(0, 200) + "…";
        String field = e instanceof JsonMappingException m && !m.getPath().isEmpty()
                ? " in field '" + m.getPath().stream().map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
                        .collect(Collectors.joining(".")).replace(".[", "[") + "'"
                : "";
        JsonLocation at = e.getLocation();
        String where = at != null && at.getLineNr() > 0 ? " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")" : "";
        return oneLine(message + field) + where;
    }

    /** Control characters (a newline in a quoted field name or value) as spaces, so the message stays one line. */
    public static String oneLine(String s) {
        return s.codePoints().map(c -> Character.isISOControl(c) ? ' ' : c)
                .collect(StringBuilder::new, StringBuilder::appendCodePoint, StringBuilder::append).toString();
    }
}
