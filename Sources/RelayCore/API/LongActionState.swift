/// BIMserver's `SLongActionState`, the state of a progress topic, as its JSON converter reads it.
public enum LongActionState {
    /// The `__type`s a progress state may have (`SLongCheckinActionState` is its checkin subclass).
    public static let types: Set<String> = ["SLongActionState", "SLongCheckinActionState"]

    /// A state as BIMserver would read it: `null` and `{}` are null (nil); an object without `__type`
    /// gets `"__type":"SLongActionState"` first, so the Java client can read it when pushed; any other
    /// `__type` or a non-object is refused.
    public static func normalized(_ value: JSONValue?) throws(APIException) -> JSONValue? {
        guard let value, !value.isNull else { return nil }
        guard let pairs = value.objectPairs else {
            throw .user("Parameter updateProgressTopic -> state must be an SLongActionState object")
        }
        if pairs.isEmpty { return nil }
        guard let type = value["__type"] else { return .object([("__type", "SLongActionState")] + pairs) }
        guard let name = type.stringValue, types.contains(name) else {
            throw .user("Parameter updateProgressTopic -> state must be an SLongActionState, not \(type.serialized)")
        }
        return value
    }
}
