package dma.engine.cuda;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The parts of the CUDA diagnosis that need no GPU: reading a native-library failure and comparing versions. */
class CudaDiagnosisTest {
    @Test
    void aLoaderFailureIsReducedToTheLineNamingTheMissingFile() {
        // the shape of JCuda's message: both load attempts, each with its stack trace
        String message = "Error while loading native library \"JCublas2-12.6.0-linux-x86_64\"\n"
                + "Operating system name: Linux\n---(start of nested stack traces)---\n"
                + "Stack trace from the attempt to load the library as a file:\n"
                + "java.lang.UnsatisfiedLinkError: no JCublas2-12.6.0-linux-x86_64 in java.library.path: /usr/lib\n"
                + "\tat java.base/java.lang.ClassLoader.loadLibrary(ClassLoader.java:2434)\n"
                + "Stack trace from the attempt to load the library as a resource:\n"
                + "java.lang.UnsatisfiedLinkError: /tmp/libJCublas2-12.6.0-linux-x86_64.so: libcublas.so.12: cannot open shared object file: No such file or directory\n"
                + "\tat java.base/jdk.internal.loader.NativeLibraries.load(Native Method)\n---(end of nested stack traces)---\n";
        String line = CudaDiagnosis.linkError(new UnsatisfiedLinkError(message));
        assertTrue(line.contains("libcublas.so.12: cannot open shared object file"), line);
        assertEquals("no X in java.library.path: /a", CudaDiagnosis.linkError(new UnsatisfiedLinkError("Error\nno X in java.library.path: /a\n")));
        assertEquals("something odd", CudaDiagnosis.linkError(new UnsatisfiedLinkError("something odd\nmore")));
    }

    @Test
    void versionsCompareNumerically() {
        assertTrue(CudaDiagnosis.compareVersions("12.4", "13.0") < 0);
        assertTrue(CudaDiagnosis.compareVersions("13.0", "13.0") == 0);
        assertTrue(CudaDiagnosis.compareVersions("13.10", "13.9") > 0);
        assertTrue(CudaDiagnosis.compareVersions("13", "13.0") == 0);
    }
}
