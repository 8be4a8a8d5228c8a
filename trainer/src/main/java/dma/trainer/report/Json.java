package dma.trainer.report;

import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.json.JsonMapper;

/** The one mapper of the run's report files. */
final class Json {
    private Json() {}

    static final ObjectMapper MAPPER = JsonMapper.builder()
            // Python/pandas readers expect snake_case; explicit @JsonProperty names (metrics' short names) are kept as written.
            .propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            // A diverged loss is NaN: write it bare, as Python's json module writes and reads it, rather than as the string "NaN".
            .disable(JsonWriteFeature.WRITE_NAN_AS_STRINGS)
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            // Files written by a newer version with more fields still load.
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .build();
}
