/**
 * The kernel families every backend implements: the contract between the op front-ends
 * ({@code dma.engine.ops}) and the devices. Kernels work on flat buffers ({@link dma.engine.Storage})
 * of float32 unless a method says otherwise, row-major, with sizes and offsets in elements.
 *
 * <p>Accumulation contract (llm.c's): forward kernels write ({@code =}) their outputs; backward
 * kernels accumulate ({@code +=}) into every gradient buffer they are given, and skip a gradient
 * argument that is {@code null} (a frozen input costs no work).
 */
package dma.engine.kernels;
