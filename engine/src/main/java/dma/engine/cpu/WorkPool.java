package dma.engine.cpu;

import java.util.ArrayDeque;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Work arrays kept from one call of a kernel to the next call with the same key (the shape), so that a training
 * step's kernels do not allocate them anew each call: fresh arrays come zeroed and cold from a young generation far
 * larger than the caches, and arrays alive across a collection get copied. A value belongs to one thread between
 * {@link #take} and {@link #give}. A kernel that takes from the pool must not depend on what an earlier call with the
 * same key left in the arrays: the condition it already meets when it reuses them between batches within one call.
 * The least recently used keys past {@link #MAX_KEYS} are dropped, so a process that sees many shapes (the tests)
 * does not hoard memory.
 */
final class WorkPool {
    static final int MAX_KEYS = 48;
    private final LinkedHashMap<Object, ArrayDeque<Object>> free = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Object, ArrayDeque<Object>> eldest) {
            return size() > MAX_KEYS;
        }
    };

    /** A value kept under key, or a new one from make (called outside the lock). */
    <T> T take(Object key, Supplier<T> make) {
        synchronized (this) {
            ArrayDeque<Object> values = free.get(key);
            if (values != null && !values.isEmpty()) {
                @SuppressWarnings("unchecked") T v = (T) values.pop();
                return v;
            }
        }
        return make.get();
    }

    /** Keeps value under key for the next {@link #take}. */
    synchronized void give(Object key, Object value) {
        free.computeIfAbsent(key, k -> new ArrayDeque<>()).push(value);
    }

    /** Values kept now, over all keys. */
    synchronized int size() {
        return free.values().stream().mapToInt(ArrayDeque::size).sum();
    }
}
