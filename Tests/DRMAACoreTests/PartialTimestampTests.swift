import Testing
@testable import DRMAACore
import EmbeddedDRM

/// Resolves `text` at `now` (seconds since the epoch) in a fixed zone `offset` seconds east of UTC.
private func resolve(_ text: String, now: Double = digestNow, offset: Int = 0) throws -> Int64 {
    try PartialTimestamp(parsing: text).resolve(now: now, timeZone: FixedOffsetTimeZone(secondsEastOfUTC: offset))
}

/// Epoch seconds of the digest's reference instants, read as UTC wall-clock times.
private enum UTC {
    static let sep03_1647: Int64 = 1_031_071_620   // 2002-09-03 16:47
    static let sep03_1800: Int64 = 1_031_076_000   // 2002-09-03 18:00
    static let sep04_1647: Int64 = 1_031_158_020   // 2002-09-04 16:47
    static let oct03_1647: Int64 = 1_033_663_620   // 2002-10-03 16:47
    static let sep03_2003_1647: Int64 = 1_062_607_620  // 2003-09-03 16:47
    static let sep03_2102_1647: Int64 = 4_186_745_220  // 2102-09-03 16:47
    static let feb29_2004_1000: Int64 = 1_078_048_800  // 2004-02-29 10:00
}

@Suite("Partial timestamps", .timeLimit(.minutes(1)))
struct PartialTimestampTests {
    @Test("Parsing fills the fields of [[[[CC]YY/]MM/]DD] hh:mm[:ss] [{-|+}UU:uu]")
    func parseFields() throws {
        var t = try PartialTimestamp(parsing: "16:47")
        #expect(t.century == nil && t.year == nil && t.month == nil && t.day == nil)
        #expect(t.hour == 16 && t.minute == 47 && t.second == 0 && t.utcOffset == nil)
        t = try PartialTimestamp(parsing: "03 16:47:05")
        #expect(t.day == 3 && t.month == nil && t.second == 5)
        t = try PartialTimestamp(parsing: "09/03 16:47")
        #expect(t.month == 9 && t.day == 3 && t.year == nil)
        t = try PartialTimestamp(parsing: "02/09/03 16:47")
        #expect(t.year == 2 && t.century == nil && t.month == 9 && t.day == 3)
        t = try PartialTimestamp(parsing: "2002/09/03 16:47 +02:00")
        #expect(t.century == 20 && t.year == 2 && t.utcOffset == 7200)
        t = try PartialTimestamp(parsing: "16:47 -07:30")
        #expect(t.utcOffset == -(7 * 3600 + 1800))
        t = try PartialTimestamp(parsing: "16:47 +00:00")
        #expect(t.utcOffset == 0)
        t = try PartialTimestamp(parsing: "23:59:60")
        #expect(t.second == 60)
        t = try PartialTimestamp(parsing: "  7:05  ")
        #expect(t.hour == 7 && t.minute == 5)
    }

    @Test("Digest §2.4 example: at 2002-09-03 17:00, \"16:47\" is 2002-09-04 16:47")
    func digestExampleTimeOnly() throws {
        #expect(try resolve("16:47") == UTC.sep04_1647)
    }

    @Test("Digest §2.4 example: at 2002-09-03 17:00, \"03 16:47\" is 2002-10-03 16:47")
    func digestExampleDay() throws {
        #expect(try resolve("03 16:47") == UTC.oct03_1647)
    }

    @Test("Digest §2.4 example: at 2002-09-03 17:00, \"09/03 16:47\" is 2003-09-03 16:47")
    func digestExampleMonthDay() throws {
        #expect(try resolve("09/03 16:47") == UTC.sep03_2003_1647)
    }

    @Test("The digest examples hold in the local time zone (west and east of UTC)", arguments: [-7 * 3600, 2 * 3600, 5 * 3600 + 1800])
    func digestExamplesLocalZone(_ offset: Int) throws {
        // 2002-09-03 17:00 local.
        let now = digestNow - Double(offset)
        let shift = Int64(offset)
        #expect(try resolve("16:47", now: now, offset: offset) == UTC.sep04_1647 - shift)
        #expect(try resolve("03 16:47", now: now, offset: offset) == UTC.oct03_1647 - shift)
        #expect(try resolve("09/03 16:47", now: now, offset: offset) == UTC.sep03_2003_1647 - shift)
        #expect(try resolve("18:00", now: now, offset: offset) == UTC.sep03_1800 - shift)
        #expect(try resolve("2002/09/03 16:47", now: now, offset: offset) == UTC.sep03_1647 - shift)
    }

    @Test("A time still ahead today stays today; seconds are honoured")
    func laterToday() throws {
        #expect(try resolve("18:00") == UTC.sep03_1800)
        #expect(try resolve("17:00") == Int64(digestNow))
        #expect(try resolve("17:00:01") == Int64(digestNow) + 1)
        #expect(try resolve("16:59:59") == Int64(digestNow) - 1 + 86_400)
        #expect(try resolve("03 18:00") == UTC.sep03_1800)
        #expect(try resolve("09/03 18:00") == UTC.sep03_1800)
    }

    @Test("YY/MM/DD in the past advances the century")
    func yearAdvancesCentury() throws {
        #expect(try resolve("02/09/03 16:47") == UTC.sep03_2102_1647)
        #expect(try resolve("02/09/03 18:00") == UTC.sep03_1800)
        // 2099-01-01 00:00 lies ahead in this century.
        #expect(try resolve("99/01/01 00:00") == 4_070_908_800)
    }

    @Test("A fully specified date in the past is used as is")
    func fullySpecifiedPast() throws {
        #expect(try resolve("2002/09/03 16:47") == UTC.sep03_1647)
        #expect(try resolve("2001/01/01 00:00") == 978_307_200)
        #expect(try resolve("2002/09/04 16:47") == UTC.sep04_1647)
    }

    @Test("An explicit zone overrides the local zone: \"+02:00\" and \"-07:00\"")
    func explicitZone() throws {
        // At 17:00 UTC it is 19:00 at +02:00: 16:47 has passed there, so tomorrow 16:47 +02:00.
        #expect(try resolve("16:47 +02:00") == UTC.sep04_1647 - 7200)
        // And 10:00 at -07:00: 16:47 -07:00 is still ahead today (23:47 UTC).
        #expect(try resolve("16:47 -07:00") == 1_031_096_820)
        // The local zone does not matter once a zone is given.
        #expect(try resolve("16:47 +02:00", offset: -5 * 3600) == UTC.sep04_1647 - 7200)
        #expect(try resolve("2002/09/03 16:47 +02:00", offset: 3600) == UTC.sep03_1647 - 7200)
    }

    @Test("\"31 10:00\" in April is the next month that has a 31st")
    func day31InApril() throws {
        // 2002-04-15 12:00 UTC → 2002-05-31 10:00.
        #expect(try resolve("31 10:00", now: 1_018_872_000) == 1_022_839_200)
        // 2002-01-31 17:00: January's 31st has passed, February has none → 2002-03-31 10:00.
        #expect(try resolve("31 10:00", now: 1_012_496_400) == 1_017_568_800)
    }

    @Test("Month/day 02/29 is the next leap day")
    func leapDay() throws {
        #expect(try resolve("02/29 10:00") == UTC.feb29_2004_1000)
    }

    @Test("Rolling over the end of the year and of a month")
    func rollOver() throws {
        // 2002-12-31 17:00: "16:47" → 2003-01-01 16:47.
        #expect(try resolve("16:47", now: 1_041_354_000) == 1_041_439_620)
        // 2002-12-31 17:00: "31 10:00" → 2003-01-31 10:00.
        #expect(try resolve("31 10:00", now: 1_041_354_000) == 1_044_007_200)
        // 2002-12-31 17:00: "12/31 10:00" → 2003-12-31 10:00.
        #expect(try resolve("12/31 10:00", now: 1_041_354_000) == 1_072_864_800)
    }

    @Test("Resolution never yields an instant before now unless the date is fully given", arguments: [
        "00:00", "23:59", "16:47", "17:00", "01 00:00", "31 23:59", "29 12:00", "12/31 23:59", "01/01 00:00",
        "02/29 00:00", "00/01/01 00:00", "99/12/31 23:59", "02/09/03 17:00",
    ])
    func neverInThePast(_ text: String) throws {
        for now in [digestNow, 1_018_872_000, 1_041_354_000, 1_012_496_400, 951_782_400 /* 2000-02-29 */] {
            for offset in [0, -7 * 3600, 9 * 3600] {
                let t = try resolve(text, now: now, offset: offset)
                #expect(t >= Int64(now), "\(text) at \(now) offset \(offset)")
            }
        }
    }

    @Test("Out-of-range fields are DENIED_BY_DRM", arguments: [
        "24:00", "23:60", "23:59:62", "-1:00", "00 10:00", "32 10:00", "13/01 10:00", "00/10 10:00",
        "2003/02/29 10:00", "2002/04/31 10:00", "10:00 +24:00", "10:00 +02:60", "10:00 -99:00",
    ])
    func outOfRange(_ text: String) {
        expectDRMAAError(.deniedByDRM) { try PartialTimestamp(parsing: text) }
    }

    @Test("Malformed text is DENIED_BY_DRM", arguments: [
        "", "   ", "abc", "10", "10:", ":10", "1000", "10:00 02:00", "10:00 +0200", "10:00 +2:00", "10:00 +02",
        "1/2/3/4 10:00", "10:00:00:00", "10:00 +02:00 x", "x/01 10:00", "201/01/01 10:00", "10:0",
        "10:000", "123:00", "03 04 10:00", "03/ 10:00", "/03 10:00", "10:00 Z", "10h00", "03-09 10:00",
        "+02:00", "10:00 UTC", "2002/09/03", "１０:００",
    ])
    func malformed(_ text: String) {
        let error = expectDRMAAError(.deniedByDRM) { try PartialTimestamp(parsing: text, attribute: "drmaa_deadline_time") }
        #expect(error?.message.contains("drmaa_deadline_time") == true)
    }

    @Test("A month/day combination that never exists (\"04/31\", \"02/30\") is DENIED_BY_DRM at runJob",
          arguments: ["04/31 10:00", "02/30 10:00", "06/31 10:00", "03/02/29 10:00"])
    func impossibleMonthDay(_ text: String) throws {
        let (session, system) = try makeSession(clock: FixedClock(digestNow))
        var template = commandTemplate()
        template.startTime = text
        expectDRMAAError(.deniedByDRM) { try session.runJob(template) }
        #expect(try system.requireBackend().submitted.isEmpty)
    }

    @Test("Civil-time conversion round-trips and knows month lengths")
    func civilTime() {
        let t = CivilTime(epochSeconds: 1_031_072_400)
        #expect(t == CivilTime(year: 2002, month: 9, day: 3, hour: 17))
        #expect(t.description == "2002-09-03 17:00:00")
        #expect(t.epochSeconds == 1_031_072_400)
        #expect(CivilTime(epochSeconds: 0) == CivilTime(year: 1970, month: 1, day: 1))
        #expect(CivilTime(epochSeconds: -1) == CivilTime(year: 1969, month: 12, day: 31, hour: 23, minute: 59, second: 59))
        #expect(CivilTime(year: 2002, month: 13, day: 1).epochSeconds == CivilTime(year: 2003, month: 1, day: 1).epochSeconds)
        #expect(CivilTime(year: 2002, month: 12, day: 32).epochSeconds == CivilTime(year: 2003, month: 1, day: 1).epochSeconds)
        #expect(CivilTime.daysIn(month: 2, year: 2000) == 29)
        #expect(CivilTime.daysIn(month: 2, year: 1900) == 28)
        #expect(CivilTime.daysIn(month: 2, year: 2004) == 29)
        #expect(CivilTime.daysIn(month: 2, year: 2003) == 28)
        #expect(CivilTime.daysIn(month: 4, year: 2003) == 30)
        #expect(CivilTime.daysIn(month: 12, year: 2003) == 31)
        var generator = SplitMix64(seed: 42)
        for _ in 0..<1000 {
            let seconds = Int64.random(in: -10_000_000_000...10_000_000_000, using: &generator)
            #expect(CivilTime(epochSeconds: seconds).epochSeconds == seconds)
        }
    }
}
