package dma.trainer.config;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The config's launcher, module_threads and slurm fields. */
class LauncherConfigTest {
    @TempDir
    Path dir;

    private Plan plan(String fields) throws Exception {
        Path data = Files.createDirectories(dir.resolve("fmnist"));
        Path f = dir.resolve("run.json");
        Files.writeString(f, "{\"data\": {\"kind\": \"fashion_mnist\", \"path\": \"" + data + "\"}" + (fields.isEmpty() ? "" : ", " + fields) + "}");
        return new Plan(ConfigLoader.read(f), f.toString());
    }

    private String error(String fields) {
        return assertThrows(IllegalArgumentException.class, () -> plan(fields)).getMessage();
    }

    @Test
    void defaultsAndValues() throws Exception {
        Plan p = plan("");
        assertEquals("sequential", p.launcher);
        assertNull(p.moduleThreads);
        assertEquals("local", plan("\"parallel_incubation\": true").launcher);
        Plan s = plan("\"launcher\": \"slurm\", \"module_threads\": 4, \"slurm\": {\"partition\": \"gpu\", \"time\": \"1:00:00\","
                + " \"account\": \"a\", \"gpus_per_task\": 1, \"options\": [\"--qos=high\"]}");
        assertEquals("slurm", s.launcher);
        assertEquals(4, s.moduleThreads);
        assertEquals("gpu", s.slurm.partition());
        assertEquals(List.of("--qos=high"), s.slurm.options());
    }

    @Test
    void errorsNameTheField() {
        assertTrue(error("\"launcher\": \"kubernetes\"").contains("field 'launcher' 'kubernetes' is not one of sequential, local, slurm"));
        assertTrue(error("\"module_threads\": 0").contains("field 'module_threads' must be positive"));
        assertTrue(error("\"launcher\": \"slurm\", \"parallel_incubation\": true").contains("field 'parallel_incubation'"));
        assertTrue(error("\"slurm\": {\"options\": [\"qos=high\"]}").contains("field 'slurm.options[0]' must be an sbatch option"));
        assertTrue(error("\"slurm\": {\"partitions\": \"x\"}").contains("unknown field 'slurm.partitions'"));
    }
}
