package dma.engine.cuda;

import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;
import jcuda.jcublas.JCublas2;
import jcuda.jcublas.cublasStatus;
import jcuda.libraryPropertyType;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What {@code dma doctor} checks of CUDA, one step at a time, so that a failure names the step and how to fix it:
 * the compiled kernels, JCuda's native driver library, the NVIDIA driver, the GPU, cuBLAS through JCublas, and
 * whether the backend opens. Steps that need an earlier one are skipped, saying which, when it failed.
 */
public final class CudaDiagnosis {
    public enum Status { OK, FAILED, SKIPPED }

    /** One step: what it found and, when it failed, how to fix it (null otherwise). */
    public record Check(String name, Status status, String found, String fix) {}

    static final String DRIVER_LIBRARY = "libJCudaDriver-12.6.0-linux-x86_64.so";
    static final String CUBLAS_LIBRARY = "libJCublas2-12.6.0-linux-x86_64.so";
    private static final String INSTALL_DRIVER = "install the NVIDIA driver (580 or newer for CUDA 13) and check that nvidia-smi sees the GPU; "
            + "in a container, start it with the GPU passed through (e.g. docker run --gpus all); or run with --backend cpu";

    private final List<Check> checks = new ArrayList<>();
    private CudaDevice.KernelBundle kernels;
    private int driverVersion;

    private CudaDiagnosis() {}

    /** Every step, in order. Loads native libraries (once per process): run it before anything else opens CUDA. */
    public static List<Check> run() {
        CudaDiagnosis d = new CudaDiagnosis();
        d.kernels();
        boolean driverLoads = d.driverLibrary();
        boolean initialized = driverLoads && d.driver();
        if (initialized) d.device();
        d.cublas();
        d.backend();
        return List.copyOf(d.checks);
    }

    private void add(String name, Status status, String found, String fix) {
        checks.add(new Check(name, status, found, fix));
    }

    private void kernels() {
        try {
            kernels = CudaDevice.KernelBundle.load();
        } catch (dma.engine.BackendUnavailableException e) {
            add("kernels", Status.FAILED, "not built: " + e.getMessage().replaceFirst("^cuda: kernels not built ", ""),
                    "put CUDA 13's nvcc on the PATH and rebuild (./dma rebuilds itself; or mvn -DskipTests package)");
            return;
        }
        String report = resourceText("dma/kernels/ptxas.txt");
        int count = 0, spilling = 0;
        for (String line : report.split("\n")) {
            if (line.isBlank()) continue;
            count++;
            if (!line.contains("spill_stores=0 spill_loads=0")) spilling++;
        }
        String families = kernels.families();
        int familyCount = families.isEmpty() ? 0 : families.split(",").length;
        add("kernels", Status.OK, String.format("built by nvcc %s for %s: %d kernels in %d %s (%s), %s",
                kernels.nvccVersion(), kernels.targets(), count, familyCount, familyCount == 1 ? "family" : "families", families,
                spilling == 0 ? "none spills registers" : spilling + " spill registers (see dma/kernels/ptxas.txt)"), null);
    }

    private static boolean driverTried, cublasTried;
    private static String driverError, cublasError;

    /**
     * Loads JCuda's driver library (once per process): null when it loaded, else the first failure's informative
     * line. A class whose initializer failed only says "Could not initialize class" the next time, so whoever comes
     * second (the backend or this diagnosis) gets the first, real reason from here.
     */
    static synchronized String driverLibraryError() {
        if (!driverTried) {
            driverTried = true;
            driverError = load("jcuda.driver.JCudaDriver");
        }
        return driverError;
    }

    /** The same for JCublas's library (which needs libcublas, not a GPU). */
    static synchronized String cublasLibraryError() {
        if (!cublasTried) {
            cublasTried = true;
            cublasError = load("jcuda.jcublas.JCublas2");
        }
        return cublasError;
    }

    private static String load(String className) {
        try {
            Class.forName(className, true, CudaDiagnosis.class.getClassLoader());
            return null;
        } catch (ClassNotFoundException e) {
            return "class " + className + " is not on the class path";
        } catch (LinkageError e) {
            return linkError(e);
        }
    }

    private boolean driverLibrary() {
        String why = driverLibraryError();
        if (why == null) {
            add("jcuda natives", Status.OK, DRIVER_LIBRARY + " loaded from " + whereLoaded(DRIVER_LIBRARY), null);
            return true;
        }
        if (why.startsWith("class ")) {
            add("jcuda natives", Status.FAILED, "the jcuda jar is not on the class path", "add org.jcuda:jcuda:12.6.0 to the class path");
        } else {
            if (why.contains("libcuda.so"))
                add("jcuda natives", Status.FAILED, DRIVER_LIBRARY + " was found but needs libcuda.so.1, the NVIDIA driver's library, which is not installed ("
                        + why + ")", INSTALL_DRIVER);
            else
                add("jcuda natives", Status.FAILED, DRIVER_LIBRARY + " could not be loaded: " + why,
                        "put the jcuda-natives jar (classifier linux-x86_64) on the class path, or the library itself in a folder named by "
                                + "-Djava.library.path (the GPU bundle's lib/)");
        }
        add("driver", Status.SKIPPED, "not checked: JCuda's driver library did not load", null);
        return false;
    }

    private boolean driver() {
        JCudaDriver.setExceptionsEnabled(false);
        int[] v = new int[1];
        if (JCudaDriver.cuDriverGetVersion(v) == CUresult.CUDA_SUCCESS) driverVersion = v[0];
        String version = driverVersion == 0 ? "unknown" : CudaDevice.versionString(driverVersion);
        int r = JCudaDriver.cuInit(0);
        if (r != CUresult.CUDA_SUCCESS) {
            String fix = r == CUresult.CUDA_ERROR_NO_DEVICE ? INSTALL_DRIVER
                    : r == CUresult.CUDA_ERROR_SYSTEM_DRIVER_MISMATCH || r == CUresult.CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE
                    ? "the kernel module and the user-space driver libraries differ in version: reinstall the driver (or reboot after an upgrade)"
                    : INSTALL_DRIVER;
            add("driver", Status.FAILED, "supports CUDA " + version + ", but cuInit failed: " + CUresult.stringFor(r), fix);
            return false;
        }
        String needs = kernels == null ? null : kernels.nvccVersion();
        if (needs != null && driverVersion != 0 && compareVersions(version, needs) < 0) {
            add("driver", Status.FAILED, "supports CUDA " + version + ", older than the kernels' PTX (nvcc " + needs
                            + "): the driver cannot load them (CUDA_ERROR_UNSUPPORTED_PTX_VERSION)",
                    "update the NVIDIA driver to one that supports CUDA " + needs + " (580 or newer for CUDA 13), or rebuild the kernels with an nvcc no newer than CUDA " + version);
            return true;
        }
        add("driver", Status.OK, "supports CUDA " + version + (needs == null ? "" : " (kernels need " + needs + ")"), null);
        return true;
    }

    private void device() {
        int[] count = new int[1];
        int r = JCudaDriver.cuDeviceGetCount(count);
        if (r != CUresult.CUDA_SUCCESS || count[0] == 0) {
            add("device", Status.FAILED, "no GPU visible (" + (r == CUresult.CUDA_SUCCESS ? "0 devices" : CUresult.stringFor(r)) + ")", INSTALL_DRIVER);
            return;
        }
        CUdevice dev = new CUdevice();
        JCudaDriver.cuDeviceGet(dev, 0);
        byte[] name = new byte[256];
        JCudaDriver.cuDeviceGetName(name, name.length, dev);
        int n = 0;
        while (n < name.length && name[n] != 0) n++;
        int[] major = new int[1], minor = new int[1], sms = new int[1];
        JCudaDriver.cuDeviceGetAttribute(major, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev);
        JCudaDriver.cuDeviceGetAttribute(minor, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev);
        JCudaDriver.cuDeviceGetAttribute(sms, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev);
        long[] total = new long[1];
        JCudaDriver.cuDeviceTotalMem(total, dev);
        String found = String.format("%s (device 0 of %d): compute capability %d.%d, %d SMs, %.1f GiB", new String(name, 0, n, StandardCharsets.US_ASCII),
                count[0], major[0], minor[0], sms[0], total[0] / 1073741824.0);
        if (major[0] * 10 + minor[0] < 80)
            add("device", Status.FAILED, found + ": older than the kernels' compute_80 PTX", "use a GPU of compute capability 8.0 or newer (A100, H100, H200, ...)");
        else
            add("device", Status.OK, found, null);
    }

    private void cublas() {
        String why = cublasLibraryError();
        if (why != null) {
            if (why.startsWith("class "))
                add("cublas", Status.FAILED, "the jcublas jar is not on the class path", "add org.jcuda:jcublas:12.6.0 to the class path");
            else if (why.contains("libcublas.so.12") && why.contains("cannot open"))
                add("cublas", Status.FAILED, CUBLAS_LIBRARY + " (JCublas 12.6.0) needs CUDA 12's libcublas.so.12, which is not installed (" + why + ")",
                        "on a CUDA 13 machine use the GPU bundle (scripts/gpu-bundle.sh): its lib/ holds a copy retargeted to libcublas.so.13 "
                                + "(scripts/retarget-cublas.py), loaded through -Djava.library.path; or put cuBLAS 12's folder on LD_LIBRARY_PATH");
            else if (why.contains("libcublas.so.13") && why.contains("cannot open"))
                add("cublas", Status.FAILED, "the retargeted " + CUBLAS_LIBRARY + " needs libcublas.so.13, which the loader does not find (" + why + ")",
                        "put the folder holding libcublas.so.13 on LD_LIBRARY_PATH: /usr/local/cuda/lib64, or the nvidia-cublas pip package's lib folder");
            else if (why.contains("version `libcublas"))
                add("cublas", Status.FAILED, "the cuBLAS found does not define the symbol-version tag JCublas asks for (" + why + ")",
                        "retarget the library to the installed cuBLAS with scripts/retarget-cublas.py (it rewrites the needed name and the version-need entry)");
            else if (why.contains("undefined symbol"))
                add("cublas", Status.FAILED, "a cuBLAS function JCublas imports is missing from the installed cuBLAS (" + why + ")",
                        "use cuBLAS 12 or 13 (cuBLAS 13.1 defines every function JCublas 12.6.0 imports)");
            else
                add("cublas", Status.FAILED, CUBLAS_LIBRARY + " could not be loaded: " + why,
                        "put the jcublas-natives jar (classifier linux-x86_64) on the class path, or the library in a -Djava.library.path folder");
            return;
        }
        // The library's own version needs no GPU and no handle.
        JCublas2.setExceptionsEnabled(false);
        int[] major = new int[1], minor = new int[1], patch = new int[1];
        int r = JCublas2.cublasGetProperty(libraryPropertyType.MAJOR_VERSION, major);
        if (r == cublasStatus.CUBLAS_STATUS_SUCCESS) r = JCublas2.cublasGetProperty(libraryPropertyType.MINOR_VERSION, minor);
        if (r == cublasStatus.CUBLAS_STATUS_SUCCESS) r = JCublas2.cublasGetProperty(libraryPropertyType.PATCH_LEVEL, patch);
        if (r != cublasStatus.CUBLAS_STATUS_SUCCESS)
            add("cublas", Status.FAILED, CUBLAS_LIBRARY + " loaded from " + whereLoaded(CUBLAS_LIBRARY) + ", but cublasGetProperty failed: " + cublasStatus.stringFor(r),
                    "check the cuBLAS installation (LD_LIBRARY_PATH, ldd -r on the library)");
        else
            add("cublas", Status.OK, "cuBLAS " + major[0] + "." + minor[0] + "." + patch[0] + " through " + CUBLAS_LIBRARY + " from " + whereLoaded(CUBLAS_LIBRARY), null);
    }

    private void backend() {
        String why = CudaBackend.unavailableReason();
        if (why == null) add("backend", Status.OK, CudaBackend.get().describe(), null);
        else add("backend", Status.FAILED, why, checks.stream().anyMatch(c -> c.status() == Status.FAILED)
                ? "see the failed steps above" : "run with DMA_CUDA_SYNC=1 and -Djcuda.LibUtils.level=INFO for details");
    }

    // ---------------------------------------------------------------- helpers

    /**
     * The one informative line of a native-library failure. JCuda's loader reports both of its attempts (the
     * java.library.path and its jar) with their stack traces; the line naming the missing file or symbol is the
     * one that says what to fix.
     */
    public static String linkError(Throwable e) {
        String message = String.valueOf(e.getMessage());
        String best = null;
        for (String line : message.split("\n")) {
            String l = line.strip();
            if (l.contains("cannot open shared object file") || l.contains("undefined symbol") || l.contains("version `")) return l;
            if (best == null && (l.contains("java.library.path") || l.contains("No resource found"))) best = l;
        }
        return best != null ? best : message.lines().findFirst().orElse(message).strip();
    }

    /** The java.library.path folder holding {@code file}, else the jar it was unpacked from. */
    private static String whereLoaded(String file) {
        for (String dir : System.getProperty("java.library.path", "").split(java.io.File.pathSeparator))
            if (!dir.isEmpty() && Files.isRegularFile(Path.of(dir, file))) return Path.of(dir).toAbsolutePath().normalize().toString();
        return "its natives jar";
    }

    private static String resourceText(String name) {
        try (InputStream in = CudaDiagnosis.class.getClassLoader().getResourceAsStream(name)) {
            return in == null ? "" : new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    /** Compares dotted versions numerically ("12.4" &lt; "13.0"). */
    static int compareVersions(String a, String b) {
        String[] x = a.split("\\."), y = b.split("\\.");
        for (int i = 0; i < Math.max(x.length, y.length); i++) {
            int p = i < x.length ? parse(x[i]) : 0, q = i < y.length ? parse(y[i]) : 0;
            if (p != q) return Integer.compare(p, q);
        }
        return 0;
    }

    private static int parse(String s) {
        try {
            return Integer.parseInt(s.replaceAll("[^0-9]", ""));
        } catch (NumberFormatException e) {
            return 0;
        }
    }
}
