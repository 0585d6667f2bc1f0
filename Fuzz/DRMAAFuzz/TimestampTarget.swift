import DRMAACore

/// `drmaa_start_time` / `drmaa_deadline_time`: `PartialTimestamp(parsing:)` and `resolve`.
///
/// Input: the timestamp on the first line; an optional second line `<now> <zone offset>` (seconds
/// since the epoch, seconds east of UTC) sets the clock and local zone it is resolved against.
/// Invariants: the fields are in range and nested as the grammar says; the canonical text of a
/// parsed timestamp parses back to it; a resolved instant shows the given fields in its zone,
/// is not before now (unless the date is complete) and is the soonest such instant; resolution
/// fails only for February 29.
enum TimestampTarget {
    static func run(_ data: [UInt8]) -> Int32 {
        let text = String(decoding: data, as: UTF8.self)
        let lines = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        let source = String(lines[0])
        // A realistic clock: 1970 … about year 6300, and zones within ±18 h.
        var now = 1_700_000_000.25, zone = 0
        if lines.count > 1 {
            let fields = lines[1].split(separator: " ")
            if let first = fields.first, let value = Double(first), value.isFinite {
                now = min(max(value, 0), 137_438_953_472)
            }
            if fields.count > 1, let value = Int(fields[1]) { zone = min(max(value, -64_800), 64_800) }
        }
        let timestamp: PartialTimestamp
        do {
            timestamp = try PartialTimestamp(parsing: source)
        } catch {
            check(error.code == .deniedByDRM, "parse error \(error.code) for \(quoted(source))")
            return 0
        }
        checkFields(timestamp, source)
        let canonical = format(timestamp)
        do {
            let again = try PartialTimestamp(parsing: canonical)
            check(again == timestamp, "\(quoted(source)) → \(quoted(canonical)) parses as \(again), not \(timestamp)")
        } catch {
            fail("the canonical form \(quoted(canonical)) of \(quoted(source)) does not parse: \(error.message)")
        }
        checkResolution(timestamp, source, now: now, zone: zone)
        return 0
    }

    static func checkFields(_ t: PartialTimestamp, _ source: String) {
        check((0...23).contains(t.hour) && (0...59).contains(t.minute) && (0...61).contains(t.second), "time out of range in \(t) from \(quoted(source))")
        if let day = t.day { check((1...31).contains(day), "day \(day) from \(quoted(source))") }
        if let month = t.month { check((1...12).contains(month) && t.day != nil, "month \(month) from \(quoted(source))") }
        if let year = t.year { check((0...99).contains(year) && t.month != nil, "year \(year) from \(quoted(source))") }
        if let century = t.century { check((0...99).contains(century) && t.year != nil, "century \(century) from \(quoted(source))") }
        if let offset = t.utcOffset { check(abs(offset) <= 23 * 3600 + 59 * 60 && offset % 60 == 0, "offset \(offset) from \(quoted(source))") }
    }

    /// `[[[[CC]YY/]MM/]DD] hh:mm:ss [{-|+}UU:uu]` with every given field written out.
    static func format(_ t: PartialTimestamp) -> String {
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        var text = ""
        if let day = t.day {
            if let month = t.month {
                if let year = t.year { text += (t.century.map(two) ?? "") + two(year) + "/" }
                text += two(month) + "/"
            }
            text += two(day) + " "
        }
        text += "\(two(t.hour)):\(two(t.minute)):\(two(t.second))"
        if let offset = t.utcOffset {
            text += " " + (offset < 0 ? "-" : "+") + two(abs(offset) / 3600) + ":" + two(abs(offset) % 3600 / 60)
        }
        return text
    }

    static func checkResolution(_ t: PartialTimestamp, _ source: String, now: Double, zone: Int) {
        let nowSeconds = Int64(now.rounded(.down))
        let offset = t.utcOffset ?? zone
        let context = "\(quoted(source)) at now=\(now) zone=\(zone)"
        let instant: Int64
        do {
            instant = try t.resolve(now: now, timeZone: FixedOffsetTimeZone(secondsEastOfUTC: zone))
        } catch {
            check(error.code == .deniedByDRM && t.day == 29 && t.month == 2, "\(context) does not resolve: \(error.message)")
            return
        }
        let complete = t.century != nil
        if !complete { check(instant >= nowSeconds, "\(context) resolves to \(instant), before now") }
        // Leap seconds (60, 61) roll over into the next minute; the fields are checked without them.
        guard t.second <= 59 else { return }
        let civil = CivilTime(epochSeconds: instant + Int64(offset))
        check(civil.hour == t.hour && civil.minute == t.minute && civil.second == t.second, "\(context) resolves to \(civil)")
        if let day = t.day { check(civil.day == day, "\(context) resolves to \(civil): wrong day") }
        if let month = t.month { check(civil.month == month, "\(context) resolves to \(civil): wrong month") }
        if let year = t.year { check((civil.year % 100 + 100) % 100 == year, "\(context) resolves to \(civil): wrong year") }
        if let century = t.century { check(civil.year / 100 == century, "\(context) resolves to \(civil): wrong century") }
        guard !complete else { return }
        // The soonest: the previous instant with the same given fields is before now.
        func at(_ y: Int, _ m: Int, _ d: Int) -> Int64? {
            guard d <= CivilTime.daysIn(month: m, year: y) else { return nil }
            return CivilTime(year: y, month: m, day: d, hour: t.hour, minute: t.minute, second: t.second).epochSeconds - Int64(offset)
        }
        var previous: Int64?
        if t.year != nil {
            previous = at(civil.year - 100, civil.month, civil.day)
        } else if t.month != nil {
            for y in stride(from: civil.year - 1, through: civil.year - 8, by: -1) where previous == nil {
                previous = at(y, civil.month, civil.day)
            }
        } else if t.day != nil {
            for k in 1...13 where previous == nil {
                let months = civil.year * 12 + civil.month - 1 - k
                let (y, m) = (months >= 0 ? months / 12 : (months - 11) / 12, ((months % 12) + 12) % 12 + 1)
                previous = at(y, m, civil.day)
            }
        } else {
            previous = instant - 86_400
        }
        if let previous { check(previous < nowSeconds, "\(context) resolves to \(civil), but \(previous) is sooner and not before now") }
    }
}
