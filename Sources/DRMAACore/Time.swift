/// A source of wall-clock time, injectable so that tests of time rules are deterministic.
public protocol WallClock: Sendable {
    /// Seconds since the Unix epoch.
    func now() -> Double
}

/// A rule giving the offset of local time from UTC, injectable for tests.
public protocol TimeZoneRule: Sendable {
    /// Seconds east of UTC in effect at the given instant (seconds since the epoch).
    func utcOffset(at instant: Int64) -> Int
}

/// A time zone with one fixed offset from UTC.
public struct FixedOffsetTimeZone: TimeZoneRule {
    /// Seconds east of UTC.
    public let offset: Int
    public init(secondsEastOfUTC offset: Int) { self.offset = offset }
    public static let utc = FixedOffsetTimeZone(secondsEastOfUTC: 0)
    public func utcOffset(at instant: Int64) -> Int { offset }
}

/// A clock that always says the same instant; for tests.
public struct FixedClock: WallClock {
    public let instant: Double
    public init(_ instant: Double) { self.instant = instant }
    public func now() -> Double { instant }
}

/// A proleptic Gregorian calendar date and time of day, without a time zone.
public struct CivilTime: Sendable, Equatable, CustomStringConvertible {
    public var year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int

    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) {
        (self.year, self.month, self.day, self.hour, self.minute, self.second) = (year, month, day, hour, minute, second)
    }

    /// The civil time of `seconds` since the epoch, read as if they were in UTC.
    public init(epochSeconds seconds: Int64) {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let rest = Int(seconds - days * 86_400)
        let (y, m, d) = Self.civil(fromDays: days)
        self.init(year: y, month: m, day: d, hour: rest / 3600, minute: rest / 60 % 60, second: rest % 60)
    }

    /// Seconds since the epoch of this civil time read as UTC; out-of-range fields roll over.
    public var epochSeconds: Int64 {
        Self.days(year: year, month: month, day: day) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
    }

    public var description: String {
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(year)-\(two(month))-\(two(day)) \(two(hour)):\(two(minute)):\(two(second))"
    }

    /// Days since 1970-01-01 of a date; months outside 1...12 are normalised first.
    static func days(year: Int, month: Int, day: Int) -> Int64 {
        let normalisedYear = year + (month - 1 >= 0 ? (month - 1) / 12 : (month - 12) / 12)
        let normalisedMonth = ((month - 1) % 12 + 12) % 12 + 1
        let y = Int64(normalisedMonth <= 2 ? normalisedYear - 1 : normalisedYear)
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let m = Int64(normalisedMonth)
        let dayOfYear = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func civil(fromDays days: Int64) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        return (Int(yearOfEra + era * 400) + (month <= 2 ? 1 : 0), month, day)
    }

    /// The number of days in a month of a year.
    public static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

/// A DRMAA partial timestamp, `[[[[CC]YY/]MM/]DD] hh:mm[:ss] [{-|+}UU:uu]` (digest §2.4),
/// as used by `drmaa_start_time` and `drmaa_deadline_time`.
public struct PartialTimestamp: Sendable, Equatable {
    public var century: Int?
    public var year: Int?
    public var month: Int?
    public var day: Int?
    public var hour: Int
    public var minute: Int
    public var second: Int
    /// Offset from UTC in seconds; `nil` means the local time zone.
    public var utcOffset: Int?

    /// Parses the text; anything malformed or out of range is `DENIED_BY_DRM`, the error
    /// Grid Engine gives when such a job is submitted.
    public init(parsing text: String, attribute: String = "drmaa_start_time") throws(DRMAAError) {
        func bad(_ why: String) -> DRMAAError {
            .denied("\(attribute) '\(text)' is not a valid partial timestamp [[[[CC]YY/]MM/]DD] hh:mm[:ss] [{-|+}UU:uu]: \(why)")
        }
        func number(_ s: Substring, digits: ClosedRange<Int>, _ range: ClosedRange<Int>, _ what: String) throws(DRMAAError) -> Int {
            guard digits.contains(s.count), s.allSatisfy({ $0.isASCII && $0.isNumber }), let v = Int(s) else {
                throw bad("\(what) '\(s)' is not a number of \(digits.lowerBound == digits.upperBound ? "\(digits.lowerBound)" : "\(digits.lowerBound)-\(digits.upperBound)") digits")
            }
            guard range.contains(v) else { throw bad("\(what) \(v) is outside \(range.lowerBound)...\(range.upperBound)") }
            return v
        }
        var tokens = text.split(separator: " ", omittingEmptySubsequences: true)[...]
        guard !tokens.isEmpty else { throw bad("it is empty") }
        (century, year, month, day, utcOffset) = (nil, nil, nil, nil, nil)
        if let first = tokens.first, !first.contains(":") {
            tokens = tokens.dropFirst()
            let parts = first.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count <= 3 else { throw bad("the date has more than three fields") }
            day = try number(parts[parts.count - 1], digits: 1...2, 1...31, "day")
            if parts.count >= 2 { month = try number(parts[parts.count - 2], digits: 1...2, 1...12, "month") }
            if parts.count == 3 {
                let yearField = parts[0]
                if yearField.count == 4 {
                    century = try number(yearField.prefix(2), digits: 2...2, 0...99, "century")
                    year = try number(yearField.suffix(2), digits: 2...2, 0...99, "year")
                } else {
                    year = try number(yearField, digits: 2...2, 0...99, "year")
                }
            }
        }
        guard let timeToken = tokens.popFirst() else { throw bad("the time hh:mm is missing") }
        let timeFields = timeToken.split(separator: ":", omittingEmptySubsequences: false)
        guard timeFields.count == 2 || timeFields.count == 3 else { throw bad("the time must be hh:mm or hh:mm:ss") }
        hour = try number(timeFields[0], digits: 1...2, 0...23, "hour")
        minute = try number(timeFields[1], digits: 2...2, 0...59, "minute")
        second = timeFields.count == 3 ? try number(timeFields[2], digits: 2...2, 0...61, "second") : 0
        if let zone = tokens.popFirst() {
            guard let sign = zone.first, sign == "+" || sign == "-" else { throw bad("the zone must start with + or -") }
            let zoneFields = zone.dropFirst().split(separator: ":", omittingEmptySubsequences: false)
            guard zoneFields.count == 2 else { throw bad("the zone must be {-|+}UU:uu") }
            let hours = try number(zoneFields[0], digits: 2...2, 0...23, "zone hours")
            let minutes = try number(zoneFields[1], digits: 2...2, 0...59, "zone minutes")
            utcOffset = (sign == "-" ? -1 : 1) * (hours * 3600 + minutes * 60)
        }
        guard tokens.isEmpty else { throw bad("unexpected text '\(tokens.joined(separator: " "))'") }
        if let day, let month {
            // February 29 exists in leap years; the year, if given, decides.
            let longest = month == 2 ? 29 : CivilTime.daysIn(month: month, year: 2000)
            if day > longest { throw bad("month \(month) never has a day \(day)") }
            if let year, let century, day > CivilTime.daysIn(month: month, year: century * 100 + year) {
                throw bad("day \(day) does not exist in \(century * 100 + year)/\(month)")
            }
        }
    }

    /// The soonest instant (seconds since the epoch) not before `now` that matches this
    /// timestamp: omitted date fields take their current value, and if that instant has
    /// passed, the least significant omitted field advances. A fully given date is used as is.
    /// Throws `DENIED_BY_DRM` when no such instant exists (February 29 of a year that is never a
    /// leap year).
    public func resolve(now: Double, timeZone: TimeZoneRule) throws(DRMAAError) -> Int64 {
        let nowSeconds = Int64(now.rounded(.down))
        let zoneOffset = { (local: Int64) -> Int in
            if let utcOffset { return utcOffset }
            // Local to UTC: the offset in effect at the instant the local time denotes.
            let guess = local - Int64(timeZone.utcOffset(at: local))
            return timeZone.utcOffset(at: guess)
        }
        let today = CivilTime(epochSeconds: nowSeconds + Int64(utcOffset ?? timeZone.utcOffset(at: nowSeconds)))
        func instant(_ y: Int, _ m: Int, _ d: Int) -> Int64? {
            guard d <= CivilTime.daysIn(month: m, year: y) else { return nil }
            let local = CivilTime(year: y, month: m, day: d, hour: hour, minute: minute, second: second).epochSeconds
            return local - Int64(zoneOffset(local))
        }
        // Candidates in increasing order of the least significant omitted field.
        var candidate: Int64?
        if let day, let month, let year, let century {
            return instant(century * 100 + year, month, day) ?? nowSeconds
        } else if let day, let month, let year {
            for c in 0..<2 where candidate == nil {
                let y = (today.year / 100 + c) * 100 + year
                if let t = instant(y, month, day), t >= nowSeconds { candidate = t }
            }
        } else if let day, let month {
            for y in today.year...(today.year + 8) where candidate == nil {
                if let t = instant(y, month, day), t >= nowSeconds { candidate = t }
            }
        } else if let day {
            for k in 0..<14 where candidate == nil {
                let m = (today.month - 1 + k) % 12 + 1
                let y = today.year + (today.month - 1 + k) / 12
                if let t = instant(y, m, day), t >= nowSeconds { candidate = t }
            }
        } else {
            for k in 0..<3 where candidate == nil {
                let date = CivilTime(epochSeconds: CivilTime.days(year: today.year, month: today.month, day: today.day + k) * 86_400)
                if let t = instant(date.year, date.month, date.day), t >= nowSeconds { candidate = t }
            }
        }
        guard let candidate else {
            throw .denied("the partial timestamp matches no date: day \(day ?? 0) of month \(month ?? 0) does not occur in the years it allows")
        }
        return candidate
    }
}
