package dma.engine;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * Deterministic release of memory. Every tensor created while a scope is open on this thread
 * belongs to the innermost scope and is closed when the scope closes, unless it was
 * {@link Tensor#keep() kept} (handed to the enclosing scope, or to nobody at top level).
 * A training step runs in one scope, so its activations, gradients of activations and other
 * temporaries are freed when it ends, not by the garbage collector.
 */
public final class Scope implements AutoCloseable {
    private static final ThreadLocal<ArrayDeque<Scope>> STACK = ThreadLocal.withInitial(ArrayDeque::new);

    private final List<Tensor> owned = new ArrayList<>();
    private final Thread thread = Thread.currentThread();
    private boolean closed;

    private Scope() {}

    public static Scope open() {
        Scope s = new Scope();
        STACK.get().push(s);
        return s;
    }

    /** The innermost open scope of this thread, or null. */
    static Scope current() {
        ArrayDeque<Scope> stack = STACK.get();
        return stack.isEmpty() ? null : stack.peek();
    }

    /** Runs {@code body} with no scope, so what it creates lives until closed explicitly (parameters, optimizer state). */
    public static <T> T persistent(java.util.function.Supplier<T> body) {
        ArrayDeque<Scope> saved = STACK.get();
        STACK.set(new ArrayDeque<>());
        try {
            return body.get();
        } finally {
            STACK.set(saved);
        }
    }

    void adopt(Tensor t) {
        owned.add(t);
    }

    /** Moves {@code t} out of this scope into the enclosing one (or none). */
    void release(Tensor t) {
        if (owned.remove(t)) {
            ArrayDeque<Scope> stack = STACK.get();
            var it = stack.iterator();
            while (it.hasNext()) {
                if (it.next() == this) {
                    if (it.hasNext()) it.next().adopt(t);
                    return;
                }
            }
        }
    }

    boolean owns(Tensor t) {
        return owned.contains(t);
    }

    @Override
    public void close() {
        if (closed) return;
        if (Thread.currentThread() != thread) throw new IllegalStateException("a scope must be closed on the thread that opened it");
        ArrayDeque<Scope> stack = STACK.get();
        if (stack.peek() != this) throw new IllegalStateException("scopes must close innermost first");
        stack.pop();
        closed = true;
        for (int i = owned.size() - 1; i >= 0; i--) owned.get(i).close();
        owned.clear();
    }
}
