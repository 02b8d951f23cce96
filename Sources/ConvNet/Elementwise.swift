/// ReLU and residual addition: the element-wise layers of RED-CNN.
public enum ReLU {
    /// y = max(x, 0), in place.
    public static func forward(_ x: inout Tensor) {
        x.data.withUnsafeMutableBufferPointer { b in
            for i in b.indices where b[i] < 0 { b[i] = 0 }
        }
    }

    /// dx = dy where the ReLU's output (or input) was > 0, else 0. In place on dy.
    public static func backward(_ dy: inout Tensor, output y: Tensor) {
        precondition(dy.shape == y.shape, "relu backward shape mismatch")
        dy.data.withUnsafeMutableBufferPointer { d in
            y.data.withUnsafeBufferPointer { o in
                for i in d.indices where !(o[i] > 0) { d[i] = 0 }
            }
        }
    }
}

public enum Residual {
    /// a += b (same shape). Its backward passes the gradient to both operands unchanged.
    public static func add(_ a: inout Tensor, _ b: Tensor) {
        precondition(a.shape == b.shape, "residual add \(a.shape) + \(b.shape)")
        a.data.withUnsafeMutableBufferPointer { x in
            b.data.withUnsafeBufferPointer { y in
                for i in x.indices { x[i] += y[i] }
            }
        }
    }
}
