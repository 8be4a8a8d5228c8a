package dma.models;

import dma.models.convnext.ConvNeXtFamily;
import dma.models.resnet.ResNetFamily;
import dma.models.vit.ViTFamily;

import java.util.List;

/**
 * The registered model families, in the order lookups try them ({@link ModelFamily#all}). A new family is one line
 * here. (A class of its own, not a constant of {@link ModelFamily}: a family's class initializes its interface, which
 * would then read the family's instance before it exists.)
 */
final class FamilyRegistry {
    static final List<ModelFamily<?>> FAMILIES = List.of(ViTFamily.INSTANCE, ResNetFamily.INSTANCE, ConvNeXtFamily.INSTANCE);

    private FamilyRegistry() {}
}
