package dma.trainer.data;

/** A training set and its test (or validation) set, with the same image shape and classes. */
public record Split(Dataset train, Dataset test) {}
