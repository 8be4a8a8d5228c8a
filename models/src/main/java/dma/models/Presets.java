package dma.models;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** A family's named presets, looked up in any case; an unknown name is an error that lists the known ones. */
public final class Presets<C extends Architecture> {
    private final String family;
    private final Map<String, C> byName = new LinkedHashMap<>();

    /** @param family the family as messages name it ("ViT", "ConvNeXt") */
    public Presets(String family) {
        this.family = family;
    }

    public Presets<C> add(String name, C config) {
        byName.put(name.toLowerCase(Locale.ROOT), config);
        return this;
    }

    public List<String> names() {
        return List.copyOf(byName.keySet());
    }

    public C get(String name) {
        C c = byName.get(name.toLowerCase(Locale.ROOT));
        if (c == null) throw new IllegalArgumentException("unknown " + family + " preset '" + name + "'; known: " + String.join(", ", names()));
        return c;
    }
}
