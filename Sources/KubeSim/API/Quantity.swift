import Foundation

/// Kubernetes resource quantities (`500m`, `1Gi`, `1e3`) in the canonical form kube-apiserver
/// stores them in, following apimachinery's `resource.Quantity`: the value is rounded up to
/// nano units, then written with the largest suffix of its format (decimal SI, binary SI or
/// decimal exponent) that keeps the number whole. `1000m` is stored as `1`, `1024Mi` as `1Gi`,
/// `0.5` as `500m`, `1.5Gi` as `1536Mi`; a binary quantity below 1024, or not whole, is written
/// in decimal SI.
enum Quantity {
    enum Format { case decimalSI, binarySI, decimalExponent }

    /// The canonical text of `text`, or nil when it is not a quantity.
    static func canonical(_ text: String) -> String? {
        guard let (negative, digits, fractionDigits, suffix) = split(text) else { return nil }
        guard let (format, base, exponent) = interpret(suffix) else { return nil }
        if text == "0" { return "0" }
        // value = digits × 10^-fractionDigits × base^exponent, kept as an integer count of
        // 10^scale (scale ≥ -9 after rounding up to nano units).
        var mantissa = Decimal(string: digits) ?? 0
        var scale = -fractionDigits
        if base == 10 {
            scale += exponent
        } else {
            for _ in 0..<exponent { mantissa *= 2 }
        }
        if scale < -9 {
            // Round up (away from zero) to nano units.
            var divisor = Decimal(1)
            for _ in 0..<(-9 - scale) { divisor *= 10 }
            var quotient = mantissa / divisor, whole = Decimal()
            NSDecimalRound(&whole, &quotient, 0, .down)
            mantissa = whole == quotient ? whole : whole + 1
            scale = -9
        }
        if mantissa == 0 { return "0" }
        var chosen = format
        if format == .binarySI {
            let value = scaled(mantissa, scale)
            var integral = Decimal(), copy = value
            NSDecimalRound(&integral, &copy, 0, .down)
            if value < 1024 || integral != value { chosen = .decimalSI }
        }
        let sign = negative ? "-" : ""
        switch chosen {
        case .binarySI:
            var value = scaled(mantissa, scale), power = 0
            while power < 6, isWhole(value / 1024) {
                value /= 1024
                power += 1
            }
            return sign + integerText(value) + ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][power]
        case .decimalSI, .decimalExponent:
            // Strip factors of ten, then step down to a multiple of three.
            while isWhole(mantissa / 10), mantissa != 0 {
                mantissa /= 10
                scale += 1
            }
            let remainder = ((scale % 3) + 3) % 3
            for _ in 0..<remainder { mantissa *= 10 }
            scale -= remainder
            let suffix: String
            if chosen == .decimalExponent {
                suffix = scale == 0 ? "" : "e\(scale)"
            } else {
                let names = [-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"]
                guard let name = names[scale] else { return sign + integerText(mantissa) + "e\(scale)" }
                suffix = name
            }
            return sign + integerText(mantissa) + suffix
        }
    }

    private static func scaled(_ mantissa: Decimal, _ scale: Int) -> Decimal {
        var value = mantissa
        if scale > 0 { for _ in 0..<scale { value *= 10 } } else { for _ in 0..<(-scale) { value /= 10 } }
        return value
    }

    private static func isWhole(_ value: Decimal) -> Bool {
        var copy = value, whole = Decimal()
        NSDecimalRound(&whole, &copy, 0, .down)
        return whole == value
    }

    private static func integerText(_ value: Decimal) -> String {
        var copy = value, whole = Decimal()
        NSDecimalRound(&whole, &copy, 0, .plain)
        return NSDecimalNumber(decimal: whole).stringValue
    }

    /// Sign, integer digits (fraction digits appended), how many fraction digits, suffix.
    private static func split(_ text: String) -> (Bool, String, Int, String)? {
        var rest = Substring(text)
        var negative = false
        if rest.first == "+" || rest.first == "-" {
            negative = rest.first == "-"
            rest = rest.dropFirst()
        }
        let whole = rest.prefix { $0.isASCII && $0.isNumber }
        rest = rest.dropFirst(whole.count)
        var fraction = Substring("")
        if rest.first == "." {
            rest = rest.dropFirst()
            fraction = rest.prefix { $0.isASCII && $0.isNumber }
            rest = rest.dropFirst(fraction.count)
        }
        guard !(whole.isEmpty && fraction.isEmpty) else { return nil }
        let digits = String(whole) + String(fraction)
        return (negative, digits.isEmpty ? "0" : digits, fraction.count, String(rest))
    }

    /// The suffix's format, base and exponent.
    private static func interpret(_ suffix: String) -> (Format, Int, Int)? {
        let decimal = ["n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18]
        let binary = ["Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60]
        if let exponent = decimal[suffix] { return (.decimalSI, 10, exponent) }
        if let exponent = binary[suffix] { return (.binarySI, 2, exponent) }
        if let first = suffix.first, first == "e" || first == "E", let exponent = Int(suffix.dropFirst()) {
            return (.decimalExponent, 10, exponent)
        }
        return nil
    }
}
