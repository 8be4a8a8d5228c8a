package dma.engine.cuda;

import dma.engine.BackendUnavailableException;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;
import jcuda.driver.JCudaDriver;

import java.io.IOException;
import java.io.InputStream;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import static jcuda.driver.JCudaDriver.*;

/**
 * One GPU through JCuda's driver API: its primary context (made current on each calling thread), one
 * stream that every kernel, copy and cuBLAS call is queued on, and the kernel modules, loaded once from
 * the fatbins the kernels module packages. Every driver call is checked; a launch error names the kernel
 * and its grid. With {@code DMA_CUDA_SYNC=1} each launch is followed by a synchronize, so an asynchronous
 * fault is reported at the kernel that caused it.
 */
final class CudaDevice implements Launcher {
    private static final boolean SYNC_EACH_LAUNCH = "1".equals(System.getenv("DMA_CUDA_SYNC"));

    final int ordinal;
    final CUdevice device = new CUdevice();
    final CUcontext context = new CUcontext();
    final CUstream stream = new CUstream();
    final String name;
    final int major, minor, multiprocessors, driverVersion;
    final long totalMemory;
    private final KernelBundle kernels;
    private final Map<String, CUmodule> modules = new ConcurrentHashMap<>();
    private final Map<String, CUfunction> functions = new ConcurrentHashMap<>();
    private final ThreadLocal<Boolean> current = ThreadLocal.withInitial(() -> false);

    private CudaDevice(int ordinal, KernelBundle kernels) {
        this.ordinal = ordinal;
        this.kernels = kernels;
        check(cuDeviceGet(device, ordinal), "cuDeviceGet(" + ordinal + ")");
        check(cuDevicePrimaryCtxRetain(context, device), "cuDevicePrimaryCtxRetain");
        makeCurrent();
        byte[] nameBytes = new byte[256];
        check(cuDeviceGetName(nameBytes, nameBytes.length, device), "cuDeviceGetName");
        name = cString(nameBytes);
        major = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        minor = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        multiprocessors = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
        long[] total = new long[1];
        check(cuDeviceTotalMem(total, device), "cuDeviceTotalMem");
        totalMemory = total[0];
        int[] v = new int[1];
        check(cuDriverGetVersion(v), "cuDriverGetVersion");
        driverVersion = v[0];
        // A blocking stream: host copies (cuMemcpyHtoD/DtoH run on the legacy default stream) are ordered with it.
        check(cuStreamCreate(stream, CUstream_flags.CU_STREAM_DEFAULT), "cuStreamCreate");
    }

    /**
     * Opens device {@code ordinal}, or explains why it cannot: kernels not built, JCuda's natives or the NVIDIA
     * driver missing, no GPU. Nothing here throws anything but {@link BackendUnavailableException}.
     */
    static CudaDevice open(int ordinal) {
        KernelBundle kernels = KernelBundle.load();
        String linkError = CudaDiagnosis.driverLibraryError();
        if (linkError != null)
            throw new BackendUnavailableException(linkError.contains("libcuda.so")
                    ? "cuda: no NVIDIA driver on this machine (libcuda.so.1 not found); install the driver or use --backend cpu"
                    : "cuda: JCuda's native driver library could not be loaded (" + linkError + "); it ships in the jcuda-natives jar, or in the bundle's lib/ folder");
        try {
            JCudaDriver.setExceptionsEnabled(false);
            int r = cuInit(0);
            if (r == CUresult.CUDA_ERROR_NO_DEVICE)
                throw new BackendUnavailableException("cuda: the NVIDIA driver is installed but sees no GPU (cuInit: CUDA_ERROR_NO_DEVICE)");
            if (r == CUresult.CUDA_ERROR_SYSTEM_DRIVER_MISMATCH || r == CUresult.CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE)
                throw new BackendUnavailableException("cuda: the NVIDIA driver and its user-space libraries do not match, or the driver is too old for this GPU (cuInit: " + CUresult.stringFor(r)
                        + "); install driver 580 or newer");
            check(r, "cuInit");
            int[] count = new int[1];
            check(cuDeviceGetCount(count), "cuDeviceGetCount");
            if (ordinal >= count[0])
                throw new BackendUnavailableException("cuda: device " + ordinal + " asked for, " + count[0] + " present");
            return new CudaDevice(ordinal, kernels);
        } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
            String why = CudaDiagnosis.linkError(e);
            if (why.contains("libcuda.so"))
                throw new BackendUnavailableException("cuda: no NVIDIA driver on this machine (libcuda.so.1 not found); install the driver or use --backend cpu");
            throw new BackendUnavailableException("cuda: JCuda's native driver library could not be loaded (" + why
                    + "); it ships in the jcuda-natives jar, or in the bundle's lib/ folder");
        } catch (CudaException e) {
            throw new BackendUnavailableException("cuda: " + e.getMessage());
        }
    }

    /** Makes the primary context current on the calling thread (once per thread). */
    void makeCurrent() {
        if (!current.get()) {
            check(cuCtxSetCurrent(context), "cuCtxSetCurrent");
            current.set(true);
        }
    }

    void synchronize() {
        makeCurrent();
        check(cuStreamSynchronize(stream), "cuStreamSynchronize");
    }

    String computeCapability() {
        return major + "." + minor;
    }

    String describeMemory() {
        long[] free = new long[1], total = new long[1];
        if (cuMemGetInfo(free, total) != CUresult.CUDA_SUCCESS) return "device memory unknown";
        return String.format("device: %.0f MiB free of %.0f MiB", free[0] / 1048576.0, total[0] / 1048576.0);
    }

    // ---------------------------------------------------------------- kernels

    /**
     * A kernel by module (family file name) and function name, loaded on first use. Loading a module whose kernels
     * take codes in place of enum constants first checks those codes against the Java side's ({@link KernelCodes}).
     */
    CUfunction function(String module, String kernel, String key) {
        CUfunction f = functions.get(key);
        if (f != null) return f;
        makeCurrent();
        CUmodule m = modules.computeIfAbsent(module, name -> {
            // kernels that switch on codes (codes.cuh) run only if they were compiled with the codes Java passes
            KernelCodes.checkModule(name);
            CUmodule mod = new CUmodule();
            int r = cuModuleLoadData(mod, kernels.fatbin(name));
            if (r == CUresult.CUDA_ERROR_UNSUPPORTED_PTX_VERSION || r == CUresult.CUDA_ERROR_NO_BINARY_FOR_GPU)
                throw new CudaException("loading kernels '" + name + "' for " + this.name + " (sm_" + major + minor + "): " + CUresult.stringFor(r)
                        + ". The fatbin holds sm_90 code and PTX " + kernels.nvccVersion() + "; this driver (" + versionString(driverVersion)
                        + ") is older than that PTX: update the NVIDIA driver (580+ for CUDA 13), or rebuild the kernels with an nvcc no newer than the driver");
            check(r, "cuModuleLoadData(" + name + ")");
            return mod;
        });
        f = new CUfunction();
        check(cuModuleGetFunction(f, m, kernel), "cuModuleGetFunction(" + key + ")");
        functions.put(key, f);
        return f;
    }

    @Override
    public void launch(String module, String kernel, int gridX, int gridY, int block, int sharedBytes, Object... args) {
        String name = module + "." + kernel;
        KernelSignatures.check(name, args);
        makeCurrent();
        CUfunction f = function(module, kernel, name);
        Pointer[] params = new Pointer[args.length];
        for (int i = 0; i < args.length; i++) params[i] = param(args[i], kernel, i);
        int r = cuLaunchKernel(f, gridX, gridY, 1, block, 1, 1, sharedBytes, stream, Pointer.to(params), null);
        if (r != CUresult.CUDA_SUCCESS || SYNC_EACH_LAUNCH) {
            if (r == CUresult.CUDA_SUCCESS) r = cuStreamSynchronize(stream);
            if (r != CUresult.CUDA_SUCCESS)
                throw new CudaException("kernel " + module + "." + kernel + "<<<(" + gridX + ", " + gridY + "), " + block + ", "
                        + sharedBytes + " B>>>: " + CUresult.stringFor(r));
        }
    }

    @Override
    public int multiprocessors() {
        return multiprocessors;
    }

    private static Pointer param(Object a, String kernel, int index) {
        if (a == null) return Pointer.to(new CUdeviceptr());
        if (a instanceof CUdeviceptr p) return Pointer.to(p);
        if (a instanceof Integer v) return Pointer.to(new int[]{v});
        if (a instanceof Float v) return Pointer.to(new float[]{v});
        if (a instanceof Long v) return Pointer.to(new long[]{v});
        if (a instanceof Double v) return Pointer.to(new double[]{v});
        if (a instanceof Boolean v) return Pointer.to(new int[]{v ? 1 : 0});
        throw new IllegalArgumentException("kernel " + kernel + ": argument " + index + " of type " + a.getClass().getSimpleName() + " cannot be passed");
    }

    // ---------------------------------------------------------------- checks

    static void check(int result, String call) {
        if (result != CUresult.CUDA_SUCCESS) throw new CudaException(call + ": " + CUresult.stringFor(result));
    }

    static String versionString(int v) {
        return v / 1000 + "." + (v % 1000) / 10;
    }

    private int attribute(int attr) {
        int[] v = new int[1];
        check(cuDeviceGetAttribute(v, attr, device), "cuDeviceGetAttribute(" + CUdevice_attribute.stringFor(attr) + ")");
        return v[0];
    }

    private static String cString(byte[] b) {
        int n = 0;
        while (n < b.length && b[n] != 0) n++;
        return new String(b, 0, n, java.nio.charset.StandardCharsets.US_ASCII);
    }

    /** The compiled kernels on the class path (packaged by the kernels module). */
    static final class KernelBundle {
        private static final String DIR = "dma/kernels/";
        private final java.util.Properties props;

        private KernelBundle(java.util.Properties props) {
            this.props = props;
        }

        /** The bundle's description, or why it is absent. */
        static KernelBundle load() {
            java.util.Properties p = new java.util.Properties();
            try (InputStream in = CudaDevice.class.getClassLoader().getResourceAsStream(DIR + "kernels.properties")) {
                if (in == null)
                    throw new BackendUnavailableException("cuda: kernels not built (nvcc was not on the PATH when the kernels module was built; "
                            + "install CUDA 13 (nvcc on the PATH) and rebuild: ./dma rebuilds itself, or mvn package)");
                p.load(in);
            } catch (IOException e) {
                throw new BackendUnavailableException("cuda: kernels.properties unreadable: " + e.getMessage());
            }
            return new KernelBundle(p);
        }

        String nvccVersion() {
            return props.getProperty("nvcc", "?");
        }

        String families() {
            return props.getProperty("families", "");
        }

        String targets() {
            return props.getProperty("targets", "?");
        }

        byte[] fatbin(String family) {
            try (InputStream in = CudaDevice.class.getClassLoader().getResourceAsStream(DIR + family + ".fatbin")) {
                if (in == null) throw new CudaException("kernel module '" + family + "' is not in the kernels jar (families built: " + families() + ")");
                byte[] all = in.readAllBytes();
                // cuModuleLoadData reads a fatbin from its header; a trailing NUL keeps a PTX-only image safe too.
                return java.util.Arrays.copyOf(all, all.length + 1);
            } catch (IOException e) {
                throw new CudaException("reading kernel module '" + family + "': " + e.getMessage());
            }
        }
    }
}
