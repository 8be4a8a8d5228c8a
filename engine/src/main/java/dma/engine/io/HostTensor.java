package dma.engine.io;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;

/**
 * One tensor as it sits in a safetensors file: the dtype name as safetensors spells it ("F32", "BF16",
 * "F16"), the shape (empty for a scalar), and the raw little-endian bytes, row-major.
 *
 * <p>The constructor checks that the dtype is supported, that no dimension is negative and that
 * {@code data.length} equals {@code numel() * elementSize}. The arrays are not copied: callers must not
 * mutate them after handing them over. {@link #equals}, {@link #hashCode} and {@link #toString} use array
 * contents.
 */
public record HostTensor(String dtype, long[] shape, byte[] data) {

    /** The dtypes this reader and writer handle, in the order they are listed in error messages. */
    static final List<String> SUPPORTED_DTYPES = List.of("F32", "BF16", "F16");

    public HostTensor {
        if (dtype == null) throw new IllegalArgumentException("dtype is null");
        if (shape == null) throw new IllegalArgumentException("shape is null");
        if (data == null) throw new IllegalArgumentException("data is null");
        int size = elementSize(dtype);
        if (size < 0) {
            throw new IllegalArgumentException("unsupported dtype '" + dtype + "' (supported: "
                    + String.join(", ", SUPPORTED_DTYPES) + ")");
        }
        long n = numel(shape);
        if (n < 0) {
            throw new IllegalArgumentException("invalid shape " + Arrays.toString(shape)
                    + ": dimensions must be non-negative and their product must fit in a long");
        }
        long need;
        try {
            need = Math.multiplyExact(n, (long) size);
        } catch (ArithmeticException e) {
            need = -1;
        }
        if (need != data.length) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " x " + dtype + " needs "
                    + (need < 0 ? "more than " + Long.MAX_VALUE : need) + " bytes but data has " + data.length);
        }
    }

    /** Encodes {@code values} as little-endian float32. */
    public static HostTensor f32(long[] shape, float[] values) {
        checkCount(shape, values);
        byte[] out = new byte[Math.multiplyExact(values.length, 4)];
        ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(values);
        return new HostTensor("F32", shape.clone(), out);
    }

    /** Encodes {@code values} as little-endian bfloat16, rounding to nearest even (NaN stays NaN). */
    public static HostTensor bf16(long[] shape, float[] values) {
        checkCount(shape, values);
        byte[] out = new byte[Math.multiplyExact(values.length, 2)];
        for (int i = 0; i < values.length; i++) {
            int b = floatToBf16Bits(values[i]);
            out[2 * i] = (byte) b;
            out[2 * i + 1] = (byte) (b >>> 8);
        }
        return new HostTensor("BF16", shape.clone(), out);
    }

    /** Number of elements: the product of the shape (1 for a scalar, 0 if any dimension is 0). */
    public long numel() {
        return numel(shape);
    }

    /** Decodes the data (F32, BF16 or F16; F16 including subnormals, infinities and NaN) to float32. */
    public float[] toFloats() {
        long n = numel();
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException("tensor of " + n + " elements does not fit in a float[]");
        }
        float[] out = new float[(int) n];
        switch (dtype) {
            case "F32" -> ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
            case "BF16" -> {
                for (int i = 0; i < out.length; i++) {
                    int b = (data[2 * i] & 0xFF) | (data[2 * i + 1] & 0xFF) << 8;
                    out[i] = Float.intBitsToFloat(b << 16);
                }
            }
            case "F16" -> {
                for (int i = 0; i < out.length; i++) {
                    int h = (data[2 * i] & 0xFF) | (data[2 * i + 1] & 0xFF) << 8;
                    out[i] = f16BitsToFloat(h);
                }
            }
            default -> throw new IllegalStateException("unsupported dtype " + dtype);
        }
        return out;
    }

    /** Round-to-nearest-even float32 → bfloat16 bits (low 16 bits of the result). NaN maps to a quiet NaN. */
    static int floatToBf16Bits(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7FFFFFFF) > 0x7F800000) {
            // NaN: keep sign and top payload bits, force the quiet bit so truncation cannot yield infinity.
            return ((bits >>> 16) | 0x0040) & 0xFFFF;
        }
        int roundingBias = 0x7FFF + ((bits >>> 16) & 1);
        return ((bits + roundingBias) >>> 16) & 0xFFFF;
    }

    /** IEEE 754 binary16 bits → float32 (exact: every half value is a float). */
    static float f16BitsToFloat(int h) {
        int sign = (h & 0x8000) << 16;
        int exp = (h >>> 10) & 0x1F;
        int mant = h & 0x3FF;
        if (exp == 0x1F) {
            // infinity (mant == 0) or NaN (payload kept, so it stays NaN)
            return Float.intBitsToFloat(sign | 0x7F800000 | (mant << 13));
        }
        if (exp == 0) {
            // zero or subnormal: mant * 2^-24, exact in float32
            float v = mant * 0x1p-24f;
            return sign != 0 ? -v : v;
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }

    /** Bytes per element for a supported dtype, or -1. */
    static int elementSize(String dtype) {
        return switch (dtype) {
            case "F32" -> 4;
            case "BF16", "F16" -> 2;
            default -> -1;
        };
    }

    /** Product of dims, or -1 if a dim is negative or the product overflows a long. */
    static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) return -1;
            try {
                n = Math.multiplyExact(n, d);
            } catch (ArithmeticException e) {
                return -1;
            }
        }
        return n;
    }

    private static void checkCount(long[] shape, float[] values) {
        if (shape == null) throw new IllegalArgumentException("shape is null");
        if (values == null) throw new IllegalArgumentException("values is null");
        long n = numel(shape);
        if (n != values.length) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " has "
                    + (n < 0 ? "an invalid number of" : String.valueOf(n)) + " elements but "
                    + values.length + " values were given");
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof HostTensor t && dtype.equals(t.dtype) && Arrays.equals(shape, t.shape)
                && Arrays.equals(data, t.data);
    }

    @Override
    public int hashCode() {
        return (dtype.hashCode() * 31 + Arrays.hashCode(shape)) * 31 + Arrays.hashCode(data);
    }

    @Override
    public String toString() {
        return "HostTensor[" + dtype + " " + Arrays.toString(shape) + ", " + data.length + " bytes]";
    }
}
