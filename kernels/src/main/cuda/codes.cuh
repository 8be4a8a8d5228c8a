// The integer codes the Java side passes to kernels in place of an enum, all in one place. Each is the `code` field
// of the Java constant (never its ordinal, so reordering a Java enum changes nothing here), named after it: the
// enum's simple name in upper snake case, then the constant (Elementwise.BinaryOp.ADD ↔ BINARY_OP_ADD).
//
// Checked on both sides: build-kernels.sh writes these constants into the kernels jar as dma/kernels/codes.txt
// (NAME=VALUE lines); the CUDA backend compares them with the Java codes when it loads the elementwise module, and
// KernelCodesTest does so without a GPU (a value that differs, or a constant only one side has, fails both).
//
// Form (build-kernels.sh reads these lines and rejects any other inside an enum): one `NAME = INTEGER,` per line.
#pragma once

// dma.engine.kernels.Elementwise.BinaryOp: binary_periodic, binary_strided
enum BinaryOpCode : int {
    BINARY_OP_ADD = 0,
    BINARY_OP_SUB = 1,
    BINARY_OP_MUL = 2,
    BINARY_OP_DIV = 3,
};

// dma.engine.kernels.Elementwise.Activation: activation_forward, activation_backward
enum ActivationCode : int {
    ACTIVATION_GELU = 0,
    ACTIVATION_RELU = 1,
};
