package dma.trainer.launch;

import dma.trainer.stage.Pipeline;
import dma.trainer.stage.StageId;
import dma.trainer.stage.Stages;

import java.util.List;

/** The module stages in the pipeline's own process, one after another, on the module stages' backend (their thread count). */
public final class SequentialLauncher implements Pipeline.ModuleLauncher {
    private final Stages modules;

    /** @param modules the run's stages on the backend the modules train on */
    public SequentialLauncher(Stages modules) {
        this.modules = modules;
    }

    @Override
    public void run(List<StageId> ids) {
        for (StageId id : ids) modules.run(id);
    }

    @Override
    public boolean inProcess() {
        return true;
    }
}
