package dma.trainer.stage;

/**
 * How module i is trained inside the frozen meta model (DESIGN §1, §6.3, §6.5): Model Assembling's incubation and
 * the two baselines that differ from it only there. Each method has its K module stages, its assembly and its
 * fine-tuning ({@link StageId}).
 */
public enum ModuleMethod {
    /** Model Assembling: the task loss on the whole training set. */
    INCUBATE(StageId.INCUBATE, "assembling", "Model Assembling"),
    /** Module Imitation: an L1 loss against the frozen meta block's features. */
    IMITATE(StageId.IMITATE, "imitation", "Module Imitation"),
    /** DistData: the task loss on module i's own class-balanced 1/K share of the training set. */
    DISTDATA(StageId.DISTDATA, "distdata", "DistData");

    /** The command that trains one module, the prefix of its stage directories, its recipe key and its name in {@code baselines}. */
    public final String command;
    /** The method's name in the summary ({@code summary.json}'s {@code method}). */
    public final String summaryName;
    /** The method's name in tables' captions and plot legends. */
    public final String label;

    ModuleMethod(String command, String summaryName, String label) {
        this.command = command;
        this.summaryName = summaryName;
        this.label = label;
    }

    /** The method whose command is {@code word} (incubate, imitate, distdata), or null. */
    public static ModuleMethod byCommand(String word) {
        for (ModuleMethod m : values()) if (m.command.equals(word)) return m;
        return null;
    }

    @Override
    public String toString() {
        return command;
    }
}
