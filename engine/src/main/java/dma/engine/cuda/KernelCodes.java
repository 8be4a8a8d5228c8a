package dma.engine.cuda;

import dma.engine.kernels.Elementwise.Activation;
import dma.engine.kernels.Elementwise.BinaryOp;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The integer codes the Java side passes to kernels in place of enum constants (each constant's {@code code} field,
 * never its ordinal), and the check that the kernels were compiled with the same values. The CUDA side names them
 * in kernels/src/main/cuda/codes.cuh, which the kernels build copies into the jar as dma/kernels/codes.txt
 * ({@code NAME=VALUE} lines). A constant's CUDA name is its enum's simple name in upper snake case, an underscore
 * and the constant's name: {@code Elementwise.BinaryOp.ADD} is {@code BINARY_OP_ADD}.
 */
final class KernelCodes {
    static final String RESOURCE = "dma/kernels/codes.txt";
    /** The kernel modules that take codes: loading one checks every code first. */
    static final Set<String> MODULES = Set.of("elementwise");

    private static Map<String, Integer> cuda;

    private KernelCodes() {}

    /** One Java constant that reaches a kernel as a code. */
    record Code(String cudaName, String javaName, int value) {}

    /** Every Java constant that reaches a kernel as a code, in declaration order. */
    static List<Code> java() {
        List<Code> codes = new ArrayList<>();
        for (BinaryOp op : BinaryOp.values()) codes.add(code(op, op.code));
        for (Activation f : Activation.values()) codes.add(code(f, f.code));
        return codes;
    }

    private static Code code(Enum<?> constant, int value) {
        Class<?> type = constant.getDeclaringClass();
        String owner = type.getEnclosingClass() == null ? "" : type.getEnclosingClass().getSimpleName() + ".";
        return new Code(cudaName(constant), owner + type.getSimpleName() + "." + constant.name(), value);
    }

    /** BinaryOp.ADD → BINARY_OP_ADD. */
    static String cudaName(Enum<?> constant) {
        String type = constant.getDeclaringClass().getSimpleName();
        return type.replaceAll("([a-z0-9])([A-Z])", "$1_$2").toUpperCase(Locale.ROOT) + "_" + constant.name();
    }

    /** The codes the kernels were compiled with (codes.txt), or null when the kernels jar has none. */
    static synchronized Map<String, Integer> cuda() {
        if (cuda == null) {
            try (InputStream in = KernelCodes.class.getClassLoader().getResourceAsStream(RESOURCE)) {
                if (in == null) return null;
                Map<String, Integer> m = new LinkedHashMap<>();
                BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
                for (String line; (line = r.readLine()) != null; ) {
                    if (line.isBlank()) continue;
                    int eq = line.indexOf('=');
                    try {
                        if (eq < 1) throw new NumberFormatException("no NAME=");
                        m.put(line.substring(0, eq).trim(), Integer.parseInt(line.substring(eq + 1).trim()));
                    } catch (NumberFormatException e) {
                        throw new CudaException(RESOURCE + ": not a NAME=INTEGER line: " + line);
                    }
                }
                cuda = Map.copyOf(m);
            } catch (IOException e) {
                throw new CudaException("reading " + RESOURCE + ": " + e.getMessage());
            }
        }
        return cuda;
    }

    /**
     * What differs between the Java codes and the CUDA header's, one line per constant (a value that differs, a
     * constant only one side has, two Java constants of one enum with one code); empty when they agree.
     */
    static List<String> mismatches(List<Code> java, Map<String, Integer> cuda) {
        List<String> out = new ArrayList<>();
        Map<String, Code> byCudaName = new HashMap<>();
        Map<String, Code> byValue = new HashMap<>();
        for (Code c : java) {
            byCudaName.put(c.cudaName(), c);
            String type = c.javaName().substring(0, c.javaName().lastIndexOf('.'));
            Code same = byValue.putIfAbsent(type + " " + c.value(), c);
            if (same != null)
                out.add(c.javaName() + " has code " + c.value() + ", as has " + same.javaName() + " (the kernels could not tell them apart)");
            Integer v = cuda.get(c.cudaName());
            if (v == null)
                out.add(c.javaName() + " (code " + c.value() + ") has no " + c.cudaName() + " in codes.cuh");
            else if (v != c.value())
                out.add(c.javaName() + " has code " + c.value() + " but codes.cuh has " + c.cudaName() + " = " + v);
        }
        cuda.entrySet().stream().filter(e -> !byCudaName.containsKey(e.getKey())).map(Map.Entry::getKey).sorted()
                .forEach(name -> out.add("codes.cuh has " + name + " = " + cuda.get(name) + " but no Java constant of that name passes a code"));
        return out;
    }

    /** Before a module's kernels are loaded: throws, naming each constant that differs, unless the codes agree. */
    static void checkModule(String module) {
        if (MODULES.contains(module)) checkModule(module, cuda());
    }

    static void checkModule(String module, Map<String, Integer> cuda) {
        if (cuda == null)
            throw new CudaException("kernels '" + module + "': " + RESOURCE + " is missing from the kernels jar, so the codes its kernels "
                    + "switch on cannot be checked; rebuild the kernels module (mvn package writes it)");
        List<String> bad = mismatches(java(), cuda);
        if (!bad.isEmpty())
            throw new CudaException("kernels '" + module + "' were compiled with other codes than the Java side passes: " + String.join("; ", bad)
                    + ". Give the constant the same code in its Java enum and in kernels/src/main/cuda/codes.cuh, and rebuild");
    }
}
