package dma.engine.cuda;

import jcuda.driver.CUdeviceptr;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The parameter types of every compiled kernel (read from the PTX at build time, signatures.txt beside the
 * fatbins). A launch whose Java arguments do not match them in number and type fails with a message naming the
 * kernel and the argument, instead of running with garbage: a float passed where the kernel reads a double,
 * an argument forgotten, two swapped.
 */
final class KernelSignatures {
    private static final String RESOURCE = "dma/kernels/signatures.txt";
    private static Map<String, List<String>> signatures;

    private KernelSignatures() {}

    static synchronized Map<String, List<String>> all() {
        if (signatures == null) {
            Map<String, List<String>> m = new HashMap<>();
            try (InputStream in = KernelSignatures.class.getClassLoader().getResourceAsStream(RESOURCE)) {
                if (in != null) {
                    BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
                    for (String line; (line = r.readLine()) != null; ) {
                        String[] f = line.trim().split(" ");
                        if (f.length < 2) continue;
                        m.put(f[0] + "." + f[1], f.length > 2 ? List.of(f[2].split(",")) : List.of());
                    }
                }
            } catch (IOException e) {
                throw new CudaException("reading " + RESOURCE + ": " + e.getMessage());
            }
            signatures = m;
        }
        return signatures;
    }

    /** Throws unless the kernel named "module.kernel" exists and takes exactly these arguments. */
    static void check(String name, Object[] args) {
        List<String> types = all().get(name);
        if (types == null) throw new CudaException("kernel " + name + " is not among the compiled kernels (" + RESOURCE + ")");
        if (types.size() != args.length)
            throw new CudaException("kernel " + name + " takes " + types.size() + " arguments " + types + ", launched with " + args.length);
        for (int i = 0; i < args.length; i++) {
            String want = types.get(i), got = ptxType(args[i]);
            boolean ok = want.equals(got) || (got.equals("u32") && want.equals("s32")) || (got.equals("u64") && want.equals("s64"));
            if (!ok)
                throw new CudaException("kernel " + name + ": argument " + i + " is ." + want + " in the kernel but a "
                        + (args[i] == null ? "null pointer" : args[i].getClass().getSimpleName()) + " (." + got + ") was passed");
        }
    }

    private static String ptxType(Object a) {
        if (a == null || a instanceof CUdeviceptr || a instanceof Long) return "u64";
        if (a instanceof Integer || a instanceof Boolean) return "u32";
        if (a instanceof Float) return "f32";
        if (a instanceof Double) return "f64";
        return a.getClass().getSimpleName();
    }
}
