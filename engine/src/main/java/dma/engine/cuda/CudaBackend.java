package dma.engine.cuda;

import dma.engine.Backend;
import dma.engine.BackendUnavailableException;
import dma.engine.MemoryStats;
import dma.engine.Storage;
import dma.engine.kernels.Attention;
import dma.engine.kernels.Blas;
import dma.engine.kernels.Convolution;
import dma.engine.kernels.Elementwise;
import dma.engine.kernels.Layout;
import dma.engine.kernels.Losses;
import dma.engine.kernels.Normalization;
import dma.engine.kernels.Optim;
import dma.engine.kernels.Reductions;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

import static jcuda.driver.JCudaDriver.*;

/**
 * The CUDA backend: device memory from a caching allocator, kernels from the fatbins of the kernels module,
 * GEMMs from cuBLAS, all queued on one stream. Opened once per process ({@link #get()}); where it cannot be
 * opened the reason is kept and every later call gets the same {@link BackendUnavailableException}.
 */
public final class CudaBackend implements Backend {
    private static final MemoryStats DRY_RUN_STATS = new MemoryStats();
    private static CudaBackend instance;
    private static BackendUnavailableException failure;

    /** Null in a dry-run backend (tests without a GPU: launches are recorded and checked, nothing runs). */
    final CudaDevice device;
    private final Launcher launcher;
    private final CudaAllocator allocator;
    private final CudaBlas blas;
    private final CudaElementwise elementwise;
    private final CudaReductions reductions;
    private final CudaLayout layout;
    private final CudaConvolution convolution;
    private final CudaNormalization normalization;
    private final CudaLosses losses;
    private final CudaAttention attention;
    private final CudaOptim optim;

    private CudaBackend(CudaDevice device, Launcher launcher) {
        this.device = device;
        this.launcher = launcher;
        this.allocator = device == null ? null : new CudaAllocator(device);
        this.blas = new CudaBlas(this);
        this.elementwise = new CudaElementwise(this);
        this.reductions = new CudaReductions(this);
        this.layout = new CudaLayout(this);
        this.convolution = new CudaConvolution(this);
        this.normalization = new CudaNormalization(this);
        this.losses = new CudaLosses(this);
        this.attention = new CudaAttention(this);
        this.optim = new CudaOptim(this);
    }

    /** The backend on GPU 0 (opened on first call). */
    public static synchronized CudaBackend get() {
        if (instance != null) return instance;
        if (failure != null) throw failure;
        try {
            CudaDevice device = CudaDevice.open(0);
            instance = new CudaBackend(device, device);
            return instance;
        } catch (BackendUnavailableException e) {
            failure = e;
            throw e;
        } catch (RuntimeException | LinkageError e) {
            failure = new BackendUnavailableException("cuda: " + e);
            throw failure;
        }
    }

    /**
     * A backend with no device, for tests on machines without a GPU: the kernel families run their host-side
     * logic and hand every launch to {@code recorder}; memory is fake (null addresses) and nothing is computed.
     */
    static CudaBackend dryRun(Launcher recorder) {
        return new CudaBackend(null, recorder);
    }

    /** Null when the CUDA backend can be used here, else why not (for tests that skip and for doctor). */
    public static String unavailableReason() {
        try {
            get();
            return null;
        } catch (BackendUnavailableException e) {
            return e.getMessage();
        }
    }

    /** What {@code dma doctor} prints about the device. */
    public String describe() {
        return String.format("%s (compute capability %s, %d SMs, %.1f GiB), driver CUDA %s, kernels from nvcc %s, cuBLAS %s",
                device.name, device.computeCapability(), device.multiprocessors, device.totalMemory / 1073741824.0,
                CudaDevice.versionString(device.driverVersion), CudaDevice.KernelBundle.load().nvccVersion(), blas.version());
    }

    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public Storage allocate(long bytes) {
        long capacity = CudaAllocator.bucket(bytes);
        if (device == null) return new CudaStorage(this, new jcuda.driver.CUdeviceptr(), bytes, capacity);
        return new CudaStorage(this, allocator.allocate(bytes), bytes, capacity);
    }

    @Override
    public void free(Storage storage) {
        CudaStorage s = (CudaStorage) storage;
        if (device != null) allocator.free(s.ptr, s.capacity);
    }

    @Override
    public MemoryStats memory() {
        return device == null ? DRY_RUN_STATS : allocator.stats();
    }

    @Override
    public void emptyCache() {
        if (device != null) allocator.emptyCache();
    }

    @Override
    public void zero(Storage storage) {
        if (device == null) return;
        device.makeCurrent();
        CudaDevice.check(cuMemsetD8Async(ptr(storage), (byte) 0, storage.bytes(), device.stream), "cuMemsetD8Async");
    }

    @Override
    public void copy(Storage src, Storage dst, long bytes) {
        if (device == null) return;
        device.makeCurrent();
        CudaDevice.check(cuMemcpyDtoDAsync(ptr(dst), ptr(src), bytes, device.stream), "cuMemcpyDtoDAsync(" + bytes + " bytes)");
    }

    @Override
    public void upload(float[] src, Storage dst, int dstOffset) {
        if (device == null) return;
        device.makeCurrent();
        CudaDevice.check(cuMemcpyHtoD(ptr(dst, dstOffset), Pointer.to(src), (long) src.length * 4), "cuMemcpyHtoD(" + src.length + " floats)");
    }

    @Override
    public void download(Storage src, int srcOffset, float[] dst) {
        if (device == null) return;
        device.makeCurrent();
        CudaDevice.check(cuMemcpyDtoH(Pointer.to(dst), ptr(src, srcOffset), (long) dst.length * 4), "cuMemcpyDtoH(" + dst.length + " floats)");
    }

    @Override
    public void uploadBytes(byte[] src, Storage dst) {
        if (device == null) return;
        device.makeCurrent();
        CudaDevice.check(cuMemcpyHtoD(ptr(dst), Pointer.to(src), src.length), "cuMemcpyHtoD(" + src.length + " bytes)");
    }

    @Override
    public byte[] downloadBytes(Storage src, long bytes) {
        byte[] out = new byte[Math.toIntExact(bytes)];
        if (device == null) return out;
        device.makeCurrent();
        CudaDevice.check(cuMemcpyDtoH(Pointer.to(out), ptr(src), bytes), "cuMemcpyDtoH(" + bytes + " bytes)");
        return out;
    }

    /** 64 MiB: im2col chunks large enough that conv2d is a few big launches. */
    @Override
    public int workspaceFloats() {
        return 1 << 24;
    }

    @Override
    public void synchronize() {
        if (device == null) return;
        device.synchronize();
    }

    @Override public Blas blas() { return blas; }
    @Override public Elementwise elementwise() { return elementwise; }
    @Override public Reductions reductions() { return reductions; }
    @Override public Layout layout() { return layout; }
    @Override public Convolution convolution() { return convolution; }
    @Override public Normalization normalization() { return normalization; }
    @Override public Losses losses() { return losses; }
    @Override public Attention attention() { return attention; }
    @Override public Optim optim() { return optim; }

    // ---------------------------------------------------------------- helpers for the kernel families

    /** The device address of a storage (null stays null: a skipped gradient becomes a null pointer). */
    static CUdeviceptr ptr(Storage s) {
        return s == null ? null : ((CudaStorage) s).ptr;
    }

    /** The address of float32 element {@code offset}. */
    static CUdeviceptr ptr(Storage s, long offset) {
        return s == null ? null : ((CudaStorage) s).at(offset * 4);
    }

    /** Queues a 1-D launch covering n elements with {@code block} threads per block. */
    void launch1d(String module, String kernel, long n, int block, Object... args) {
        launcher.launch(module, kernel, launcher.blocksFor(n, block), 1, block, 0, args);
    }

    void launch(String module, String kernel, int gridX, int gridY, int block, int sharedBytes, Object... args) {
        launcher.launch(module, kernel, gridX, gridY, block, sharedBytes, args);
    }

    int blocksFor(long n, int block) {
        return launcher.blocksFor(n, block);
    }

    int multiprocessors() {
        return launcher.multiprocessors();
    }
}
