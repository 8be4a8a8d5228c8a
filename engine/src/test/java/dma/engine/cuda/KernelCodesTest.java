package dma.engine.cuda;

import dma.engine.kernels.Elementwise.Activation;
import dma.engine.kernels.Elementwise.BinaryOp;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The codes Java passes to kernels in place of enum constants (Elementwise.BinaryOp and Activation's {@code code})
 * against the ones the kernels were compiled with (kernels/src/main/cuda/codes.cuh, written by the kernels build
 * as dma/kernels/codes.txt with or without nvcc): no GPU needed. Reordering a Java enum changes no code; changing a
 * code on one side only fails here, and the CUDA backend refuses to load the elementwise kernels.
 */
class KernelCodesTest {
    private static Map<String, Integer> cuda() {
        Map<String, Integer> cuda = KernelCodes.cuda();
        assertNotNull(cuda, KernelCodes.RESOURCE + " is not on the class path: the kernels module's build writes it from codes.cuh "
                + "(nvcc or not); build it with the engine (mvn -pl engine -am)");
        return cuda;
    }

    @Test
    void everyJavaCodeIsTheCudaHeadersAndNeitherSideHasAConstantTheOtherLacks() {
        Map<String, Integer> cuda = cuda();
        assertEquals(List.of(), KernelCodes.mismatches(KernelCodes.java(), cuda));
        Map<String, Integer> java = new TreeMap<>();
        for (KernelCodes.Code c : KernelCodes.java()) java.put(c.cudaName(), c.value());
        assertEquals(java, new TreeMap<>(cuda), "Java codes (left) against codes.cuh (right)");
    }

    @Test
    void everyConstantOfTheCodedEnumsIsChecked() {
        assertEquals(BinaryOp.values().length + Activation.values().length, KernelCodes.java().size());
        assertEquals("BINARY_OP_ADD", KernelCodes.cudaName(BinaryOp.ADD));
        assertEquals("ACTIVATION_GELU", KernelCodes.cudaName(Activation.GELU));
        assertEquals(new KernelCodes.Code("BINARY_OP_DIV", "Elementwise.BinaryOp.DIV", BinaryOp.DIV.code),
                KernelCodes.java().get(BinaryOp.DIV.ordinal()));
    }

    @Test
    void eachMismatchIsNamed() {
        List<KernelCodes.Code> java = List.of(new KernelCodes.Code("BINARY_OP_ADD", "Elementwise.BinaryOp.ADD", 0),
                new KernelCodes.Code("BINARY_OP_SUB", "Elementwise.BinaryOp.SUB", 0),
                new KernelCodes.Code("ACTIVATION_GELU", "Elementwise.Activation.GELU", 0),
                new KernelCodes.Code("ACTIVATION_RELU", "Elementwise.Activation.RELU", 1));
        Map<String, Integer> cuda = Map.of("BINARY_OP_ADD", 0, "BINARY_OP_SUB", 1, "ACTIVATION_GELU", 0, "ACTIVATION_TANH", 2);
        assertEquals(List.of(
                "Elementwise.BinaryOp.SUB has code 0, as has Elementwise.BinaryOp.ADD (the kernels could not tell them apart)",
                "Elementwise.BinaryOp.SUB has code 0 but codes.cuh has BINARY_OP_SUB = 1",
                "Elementwise.Activation.RELU (code 1) has no ACTIVATION_RELU in codes.cuh",
                "codes.cuh has ACTIVATION_TANH = 2 but no Java constant of that name passes a code"),
                KernelCodes.mismatches(java, cuda));
    }

    @Test
    void loadingTheElementwiseKernelsChecksTheCodes() {
        Map<String, Integer> cuda = cuda();
        assertDoesNotThrow(() -> KernelCodes.checkModule("elementwise", cuda));
        Map<String, Integer> swapped = new TreeMap<>(cuda);
        swapped.put("ACTIVATION_GELU", cuda.get("ACTIVATION_RELU"));
        swapped.put("ACTIVATION_RELU", cuda.get("ACTIVATION_GELU"));
        var e = assertThrows(CudaException.class, () -> KernelCodes.checkModule("elementwise", swapped));
        assertTrue(e.getMessage().contains("Elementwise.Activation.GELU has code " + Activation.GELU.code
                + " but codes.cuh has ACTIVATION_GELU = " + Activation.RELU.code), e.getMessage());
        assertTrue(e.getMessage().contains("Elementwise.Activation.RELU"), e.getMessage());
        e = assertThrows(CudaException.class, () -> KernelCodes.checkModule("elementwise", null));
        assertTrue(e.getMessage().contains(KernelCodes.RESOURCE), e.getMessage());
        // families that take no codes load without the check
        assertDoesNotThrow(() -> KernelCodes.checkModule("optim"));
    }
}
