package dma.models.select;

import dma.engine.Backend;
import dma.engine.DType;
import dma.engine.Scope;
import dma.engine.Tensor;
import dma.models.ModelFamily;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Weight selection (Xu et al., "Initializing Models with Larger Ones", ICLR 2024; DESIGN.md §6.6):
 * a small student is initialized from a larger trained teacher of the same family by taking, for
 * every student parameter except the classifier head, a uniformly spaced subset of the same-named
 * teacher tensor along every dimension.
 *
 * <ul>
 *   <li>Layers are "first-N": student {@code blocks.i} ← teacher {@code blocks.i} (ViT), student
 *       {@code layerS.j} ← teacher {@code layerS.j} (CifarResNet) and student {@code stages.i.blocks.j} ← teacher
 *       {@code stages.i.blocks.j} (ConvNeXt): the first blocks of each stage. All follow from taking the teacher
 *       tensor of the same name; teacher layers beyond the student's are unused.</li>
 *   <li>Along each dimension (teacher size t, student size s) the indices are {@link #indices(int, int)}:
 *       all when s = t; {@code 0, t/s, 2t/s, …} when t mod s = 0; else {@code round(linspace(0, t-1, s))}
 *       with halves to even. The same rule applies to every dimension of every tensor; {@code qkv} is one
 *       tensor (not split per head); BatchNorm running statistics are selected like the weights.</li>
 *   <li>A ConvNeXt depthwise kernel {@code conv_dw.weight [C, 1, 7, 7]} has the same 1 × 7 × 7 in teacher and
 *       student, so only its channels are selected ({@link ModelFamily#selectsKernelTaps}); the stem and downsample convolutions are selected in both
 *       channel dimensions (their kernel sizes must agree, as every dimension may only shrink).</li>
 *   <li>{@code pos_embed [1, tokens, D]} keeps all tokens (the token counts must be equal) and selects
 *       channels.</li>
 *   <li>The head ({@link ModelFamily#headPrefix}: {@code head.*} for ViT and ConvNeXt, where it includes {@code head.norm}; {@code fc.*} for CifarResNet) keeps the student's own
 *       initialization: its tensors are copied from the student.</li>
 * </ul>
 *
 * Every problem (families differ, a student tensor without a teacher counterpart, a rank mismatch, a
 * student dimension larger than the teacher's, different token counts) is an
 * {@link IllegalArgumentException} naming the tensor and both shapes; it is raised before any tensor
 * is created.
 */
public final class WeightSelection {
    private WeightSelection() {}

    /**
     * The teacher indices kept along one dimension of teacher size {@code teacherSize} and student size
     * {@code studentSize}: identity when equal; {@code i·(t/s)} when t is a multiple of s; otherwise
     * {@code round(linspace(0, t-1, s))}, rounding halves to even.
     *
     * <p>The linspace is evaluated exactly, in integers: point i is i·(t−1)/(s−1), and an exact half goes
     * to the even neighbour. PyTorch evaluates the same linspace in float32, so at exact halves its side
     * depends on rounding error and on the version (torch 1.13 here differs from the exact value in about
     * 4% of the exact-half cases for t < 400, none of them among the widths of the published models).
     */
    public static int[] indices(int teacherSize, int studentSize) {
        if (studentSize < 1 || teacherSize < 1)
            throw new IllegalArgumentException("indices: sizes must be positive, got teacher " + teacherSize + ", student " + studentSize);
        if (studentSize > teacherSize)
            throw new IllegalArgumentException("indices: student size " + studentSize + " is larger than teacher size " + teacherSize);
        int[] out = new int[studentSize];
        if (teacherSize % studentSize == 0) {
            int step = teacherSize / studentSize;
            for (int i = 0; i < studentSize; i++) out[i] = i * step;
            return out;
        }
        // studentSize >= 2 here (every size is a multiple of 1)
        long den = studentSize - 1;
        for (int i = 0; i < studentSize; i++) {
            long num = (long) i * (teacherSize - 1), q = num / den, twiceRem = 2 * (num % den);
            out[i] = (int) (twiceRem > den || (twiceRem == den && (q & 1) == 1) ? q + 1 : q);
        }
        return out;
    }

    /** {@link #select(Map, Map, ModelFamily)} with the family inferred from the student's names ({@link ModelFamily#ofMarker}). */
    public static LinkedHashMap<String, Tensor> select(Map<String, Tensor> teacher, Map<String, Tensor> student) {
        return select(teacher, student, ModelFamily.ofMarker(student.keySet()));
    }

    /**
     * A new student state dict, in the student's order: every tensor selected from the same-named
     * teacher tensor, except the head's, which are copies of the student's. The tensors are new, on the
     * student tensor's backend, created outside any scope; the caller owns (closes) them. Neither input
     * is modified.
     */
    public static LinkedHashMap<String, Tensor> select(Map<String, Tensor> teacher, Map<String, Tensor> student, ModelFamily<?> family) {
        if (family == null) throw new IllegalArgumentException("weight selection: family is null");
        ModelFamily<?> teacherFamily = ModelFamily.ofMarker(teacher.keySet());
        ModelFamily<?> studentFamily = ModelFamily.ofMarker(student.keySet());
        if (teacherFamily != studentFamily)
            throw new IllegalArgumentException("weight selection: the teacher is a " + label(teacherFamily) + " (has '" + teacherFamily.marker()
                    + "') but the student is a " + label(studentFamily) + " (has '" + studentFamily.marker() + "'); both must be the same family");
        if (family != studentFamily)
            throw new IllegalArgumentException("weight selection: asked for family " + label(family) + " but teacher and student are "
                    + label(studentFamily) + " (they have '" + studentFamily.marker() + "', not '" + family.marker() + "')");

        // Plan and validate everything before creating any tensor.
        List<Plan> plans = new ArrayList<>(student.size());
        for (var e : student.entrySet()) {
            String name = e.getKey();
            Tensor s = e.getValue();
            requireF32(name, "student", s);
            if (family.isHead(name)) {
                plans.add(new Plan(name, s, null, null));
                continue;
            }
            Tensor t = teacher.get(name);
            if (t == null)
                throw new IllegalArgumentException("weight selection: student tensor '" + name + "' " + s.shapeString()
                        + " has no teacher counterpart (the teacher has no tensor of that name; first-N layer mapping takes teacher "
                        + "layer i for student layer i, so the student may not be deeper than the teacher)");
            requireF32(name, "teacher", t);
            if (!family.selectsKernelTaps() && s.rank() == 4 && t.rank() == 4 && (s.dim(2) != t.dim(2) || s.dim(3) != t.dim(3)))
                throw new IllegalArgumentException("weight selection: convolution '" + name + "' has a " + s.dim(2) + "×" + s.dim(3)
                        + " kernel in the student but " + t.dim(2) + "×" + t.dim(3) + " in the teacher (student " + s.shapeString()
                        + ", teacher " + t.shapeString() + "); " + label(family) + " kernels are selected in their channels only, so kernel sizes "
                        + "(and the stem's patch size) must agree");
            plans.add(new Plan(name, s, t, planIndices(name, t.shape(), s.shape())));
        }

        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        try {
            for (Plan p : plans) {
                float[] values = p.teacher == null ? p.student.toFloats() : gather(p.teacher.toFloats(), p.teacher.shape(), p.index);
                Backend backend = p.student.backend();
                int[] shape = p.student.shape();
                Tensor made = Scope.persistent(() -> Tensor.of(backend, values, shape));
                out.put(p.name, made.named(p.name));
            }
        } catch (RuntimeException ex) {
            for (Tensor made : out.values()) made.close();
            throw ex;
        }
        return out;
    }

    /** A family as these messages name it: VIT, CIFAR_RESNET, CONVNEXT. */
    private static String label(ModelFamily<?> family) {
        return family.name().toUpperCase(Locale.ROOT);
    }

    private record Plan(String name, Tensor student, Tensor teacher, int[][] index) {}

    private static void requireF32(String name, String side, Tensor t) {
        if (t.dtype() != DType.F32)
            throw new IllegalArgumentException("weight selection: " + side + " tensor '" + name + "' " + t.shapeString()
                    + " is " + t.dtype() + "; weight selection works on float32 state dicts");
    }

    /** Per-dimension teacher indices for one tensor, with the checks of rank, sizes and pos_embed tokens. */
    static int[][] planIndices(String name, int[] teacherShape, int[] studentShape) {
        String shapes = "(student " + Arrays.toString(studentShape) + ", teacher " + Arrays.toString(teacherShape) + ")";
        if (teacherShape.length != studentShape.length)
            throw new IllegalArgumentException("weight selection: tensor '" + name + "' has rank " + studentShape.length
                    + " in the student but rank " + teacherShape.length + " in the teacher " + shapes);
        if (name.equals("pos_embed") && studentShape.length == 3 && studentShape[1] != teacherShape[1])
            throw new IllegalArgumentException("weight selection: tensor 'pos_embed' has " + studentShape[1] + " tokens in the student but "
                    + teacherShape[1] + " in the teacher " + shapes + "; weight selection keeps every position embedding, so image and "
                    + "patch sizes must give the same number of tokens");
        int[][] index = new int[studentShape.length][];
        for (int d = 0; d < studentShape.length; d++) {
            if (studentShape[d] > teacherShape[d])
                throw new IllegalArgumentException("weight selection: tensor '" + name + "' dimension " + d + ": student size "
                        + studentShape[d] + " is larger than teacher size " + teacherShape[d] + " " + shapes);
            if (studentShape[d] == 0) {
                index[d] = new int[0];
                continue;
            }
            index[d] = indices(teacherShape[d], studentShape[d]);
        }
        return index;
    }

    /** {@code src[index[0][i0], index[1][i1], …]} for every student position, row-major. */
    static float[] gather(float[] src, int[] srcShape, int[][] index) {
        int rank = srcShape.length;
        int n = 1;
        for (int[] ix : index) n *= ix.length;
        float[] out = new float[n];
        if (n == 0) return out;
        if (rank == 0) {
            out[0] = src[0];
            return out;
        }
        // offsets[d][k]: the flat offset contributed by student position k along dimension d.
        long[] strides = new long[rank];
        long stride = 1;
        for (int d = rank - 1; d >= 0; d--) {
            strides[d] = stride;
            stride *= srcShape[d];
        }
        int[][] offsets = new int[rank][];
        for (int d = 0; d < rank; d++) {
            offsets[d] = new int[index[d].length];
            for (int k = 0; k < index[d].length; k++) offsets[d][k] = (int) (index[d][k] * strides[d]);
        }
        int last = rank - 1;
        int[] inner = offsets[last];
        int innerLen = inner.length;
        int[] pos = new int[rank]; // odometer over all dimensions but the last
        int o = 0;
        while (o < n) {
            int base = 0;
            for (int d = 0; d < last; d++) base += offsets[d][pos[d]];
            for (int k = 0; k < innerLen; k++) out[o++] = src[base + inner[k]];
            for (int d = last - 1; d >= 0; d--) {
                if (++pos[d] < index[d].length) break;
                pos[d] = 0;
            }
        }
        return out;
    }
}
