@testable import DRMAACore
import Glibc
@testable import LocalDRM
import Testing

/// The options of `specification` on a session of 8 slots.
private func read(_ specification: String, _ emulation: Emulation? = nil, slots: Int = 8) throws -> JobOptions {
    try JobOptions().applying(specification, emulation: emulation, sessionSlots: slots)
}

/// `JobOptions()` changed by `change`, for comparing with what a specification gives.
private func expected(_ change: (inout JobOptions) -> Void) -> JobOptions {
    var options = JobOptions()
    change(&options)
    return options
}

private let gibibyte: UInt64 = 1 << 30
private let mebibyte: UInt64 = 1 << 20
private let gib: rlim_t = 1 << 30

@Suite("Native specification dialects: shell words", .timeLimit(.minutes(1)))
struct ShellWordTests {
    @Test("words split as a shell splits them, with nothing expanded", arguments: [
        ("a b\tc\nd", ["a", "b", "c", "d"]),
        ("  lead  trail  ", ["lead", "trail"]),
        ("'a b' \"c d\"", ["a b", "c d"]),
        ("'it''s' x'y'z", ["its", "xyz"]),
        ("\"a \\\"b\\\" \\\\ \\$HOME \\` \\n\"", ["a \"b\" \\ $HOME ` \\n"]),
        ("'$HOME \\n \"x\"'", ["$HOME \\n \"x\""]),
        ("a\\ b c\\'d \\\"", ["a b", "c'd", "\""]),
        ("a\\\nb \"c\\\nd\"", ["ab", "cd"]),
        ("'' \"\" x", ["", "", "x"]),
        ("end\\", ["end\\"]),
        ("$HOME `id` ~ *", ["$HOME", "`id`", "~", "*"]),
        ("'\u{301}x'", ["\u{301}x"]),
    ])
    func words(text: String, words: [String]) throws {
        #expect(try JobOptions.words(of: text) == words)
    }

    @Test("an unterminated quote is DENIED_BY_DRM saying so", arguments: [
        ("-N 'my job", "unterminated single quote"),
        ("-N \"my job", "unterminated double quote"),
        ("-N \"ends in \\", "unterminated double quote"),
    ])
    func unterminated(text: String, message: String) {
        let error = #expect(throws: DRMAAError.self) { try read(text) }
        #expect(error?.code == .deniedByDRM && error?.message.contains(message) == true, "\(error?.message ?? "")")
    }

    @Test("quoted values reach the options whole")
    func quotedValues() throws {
        #expect(try read("-N 'my job' -v 'GREETING=hello world'") == expected {
            $0.jobName = "my job"
            $0.environment = [.init(name: "GREETING", value: "hello world")]
        })
        #expect(try read("--job-name=\"a \\\"quoted\\\" name\"").jobName == "a \"quoted\" name")
    }
}

@Suite("Native specification dialects: the table of options", .timeLimit(.minutes(1)))
struct NativeOptionTableTests {
    @Test("pipelines' real specifications are accepted")
    func realPipelines() throws {
        // gridmap
        #expect(try read("-shell yes -b yes -q all.q") == JobOptions())
        // cgatcore, Grid Engine
        #expect(try read("-V -notify -N name -p -10 -l mem_free=1G -q all.q") == expected {
            $0.jobName = "name"; $0.priority = -10; $0.memoryRequest = .perSlot(bytes: gibibyte)
        })
        // cgatcore, Slurm
        #expect(try read("-J name --cpus-per-task=1 --mem-per-cpu=1000 --partition=all.q") == expected {
            $0.jobName = "name"; $0.cpusPerTask = 1; $0.memoryRequest = .perSlot(bytes: 1000 * mebibyte)
        })
        // Snakemake --drmaa-args
        #expect(try read("-pe smp 4 -l h_vmem=2G") == expected {
            $0.slots = 4; $0.resourceLimits[.vmem] = .init(hard: 2 * gibibyte)
        })
    }

    @Test("Slurm's attached letter values: -t30, -Jname, -pdebug read as sbatch reads them; Grid Engine's options are never split")
    func attachedWithoutEmulation() throws {
        // Only checked values and -J attached mark a specification Slurm's: -pee stays a typo.
        #expect(try read("-c2 -t30 -Jname -n1").slots == 2)
        #expect(try read("-c2 -pdebug").slots == 2)   // Slurm's by -c2, so -pdebug is a partition
        let typo = #expect(throws: DRMAAError.self) { try read("-pee smp 2") }
        #expect(typo?.message.contains("did you mean -pe?") == true, "\(typo?.message ?? "")")
    }

    @Test("with the Slurm emulation every Slurm letter takes an attached value")
    func attachedValues() throws {
        let options = try read("-c2 -t30 -Jname -pdebug -n1", .slurm)
        #expect(options.jobName == "name" && options.slots == 2)
        #expect(options.hardWallclockLimit == .seconds(1800))
        // -cwd, -pe, -now are Grid Engine's whole words, not -c wd, -p e, -n ow.
        #expect(try read("-cwd -pe smp 2").slots == 2)
        // In Grid Engine's dialect an attached value stays an unknown option (a typo is caught).
        let error = #expect(throws: DRMAAError.self) { try read("-c4", .sge) }
        #expect(error?.message.contains("'-c4'") == true, "\(error?.message ?? "")")
        // A bad attached value names the letter.
        let bad = #expect(throws: DRMAAError.self) { try read("-cfour") }
        #expect(bad?.message.contains("-c") == true, "\(bad?.message ?? "")")
    }

    @Test("CPUs: -pe, --cpus-per-task, -c, --ntasks, -n, --ntasks-per-node → slots", arguments: [
        ("-pe smp 4", nil, 4),
        ("-pe mpi 2-16", nil, 8),        // the largest the session can give, within the range
        ("-pe mpi 2-", nil, 8),
        ("-pe mpi -3", nil, 3),
        ("-pe mpi 3-3", nil, 3),
        ("-pe smp 10-12", nil, 10),      // at least the minimum: refused at submission on 8 slots
        ("--slots=3 -pe smp 2", nil, 2),
        ("-pe smp 2 --slots 3", nil, 3),
        ("--cpus-per-task=2 --ntasks 3", nil, 6),
        ("--ntasks=2", nil, 2),
        ("--ntasks-per-node=3 --cpus-per-task=2", nil, 6),
        ("-c 2 -n 2", nil, 4),           // -n is Slurm's: so is -c
        ("-c 4", Emulation.slurm, 4),
        ("--ntasks=2 --slots=1 --cpus-per-task=2", nil, 2),
        ("-c4", nil, 4),                 // a value attached to a letter: Slurm's (getopt) spelling
        ("-c2 -n3", nil, 6),
        ("-n2 -c 2", Emulation.slurm, 4),
    ] as [(String, Emulation?, Int)])
    func slots(specification: String, emulation: Emulation?, slots: Int) throws {
        #expect(try read(specification, emulation).slots == slots)
    }

    @Test("priority: -p (Grid Engine), --priority; --nice is the process nice level", arguments: [
        ("-p 10", nil, 10, nil),
        ("-p -1023", nil, -1023, nil),
        ("--priority=1024", nil, 1024, nil),
        ("-p debug -J x", nil, 0, nil),            // Slurm's -p is a partition
        ("-p 5", Emulation.slurm, 0, nil),
        ("-p 5", Emulation.sge, 5, nil),
        ("--nice", nil, 0, 19),                     // Slurm's default adjustment, 100
        ("--nice=100", nil, 0, 19),
        ("--nice 7", nil, 0, 7),
        ("--nice=0", nil, 0, 0),
    ] as [(String, Emulation?, Int, Int32?)])
    func priority(specification: String, emulation: Emulation?, priority: Int, nice: Int32?) throws {
        let options = try read(specification, emulation)
        #expect(options.priority == priority && options.nice == nice)
    }

    @Test("job name, working directory, hold, join and streams: defaults for the template's attributes")
    func attributes() throws {
        #expect(try read("-N one").jobName == "one")
        #expect(try read("-J two").jobName == "two")
        #expect(try read("--job-name=three").jobName == "three")
        #expect(try read("-N four", .sge).jobName == "four")
        #expect(try read("-cwd").workingDirectory == .current)
        #expect(try read("-wd /data/run").workingDirectory == .path("/data/run"))
        #expect(try read("--chdir=relative").workingDirectory == .path("relative"))
        #expect(try read("-D /x").workingDirectory == .path("/x"))
        #expect(try read("--workdir /y").workingDirectory == .path("/y"))
        #expect(try read("-h").hold && read("-H").hold && read("--hold").hold)
        #expect(try read("-j y").joinFiles == true && read("-j no").joinFiles == false)
        #expect(try read("-o out.txt -e err.txt -i in.txt") == expected {
            $0.outputPath = .init("out.txt", dialect: .sge); $0.errorPath = .init("err.txt", dialect: .sge)
            $0.inputPath = .init("in.txt", dialect: .sge)
        })
        #expect(try read("--output=slurm-%j.out --error=e%j --input=i").outputPath == .init("slurm-%j.out", dialect: .slurm))
        #expect(try read("-o %x.out", .slurm).outputPath == .init("%x.out", dialect: .slurm))
        #expect(try read("-tc 3").taskLimit == 3)
    }

    @Test("environment: -V, -v A=b,C, --export=ALL|NONE|names")
    func environment() throws {
        #expect(try read("-V") == JobOptions())
        #expect(try read("-v A=b,C -v D=e=f") == expected {
            $0.environment = [.init(name: "A", value: "b"), .init(name: "C", value: nil), .init(name: "D", value: "e=f")]
        })
        #expect(try read("--export=NONE") == expected { $0.inheritsEnvironment = false })
        #expect(try read("--export=ALL,A=b") == expected { $0.environment = [.init(name: "A", value: "b")] })
        #expect(try read("--export=A,B=c") == expected {
            $0.inheritsEnvironment = false
            $0.environment = [.init(name: "A", value: nil), .init(name: "B", value: "c")]
        })
        #expect(try read("--export=NONE -V").inheritsEnvironment)
    }

    @Test("wall-clock limits: -l h_rt= and s_rt= (Grid Engine times), --time and -t (Slurm times)", arguments: [
        ("-l h_rt=3600", JobOptions.TimeLimit.seconds(3600)),
        ("-l h_rt=1:00:00", .seconds(3600)),
        ("-l h_rt=0:30:0", .seconds(1800)),
        ("-l h_rt=1::1", .seconds(3601)),
        ("-l h_rt=INFINITY", .unlimited),
        ("-l h_rt=10 -l h_rt=20", .seconds(20)),
        ("--time=10", .seconds(600)),
        ("--time=1:30", .seconds(90)),
        ("--time 1:00:00", .seconds(3600)),
        ("--time=2-0", .seconds(172_800)),
        ("--time=1-2:3", .seconds(93_780)),
        ("--time=1-2:3:4", .seconds(93_784)),
        ("--time=UNLIMITED", .unlimited),
        ("--time=infinite", .unlimited),
        ("--time=0", .unlimited),
        ("-t 5", .seconds(300)),   // -t is Slurm's time here: --mem below makes the dialect Slurm
    ])
    func wallclock(specification: String, limit: JobOptions.TimeLimit) throws {
        let text = specification.hasPrefix("-t") ? specification + " --mem=1G" : specification
        #expect(try read(text).hardWallclockLimit == limit)
    }

    @Test("-l s_rt= is the soft wall-clock limit; -soft requests are wishes")
    func softRequests() throws {
        #expect(try read("-l s_rt=60").softWallclockLimit == .seconds(60))
        #expect(try read("-soft -l h_rt=60,h_vmem=1G -hard") == JobOptions())
        #expect(try read("-soft -l h_rt=60 -hard -l h_rt=30").hardWallclockLimit == .seconds(30))
    }

    @Test("memory: -l h_vmem/s_vmem (enforced, per slot), mem_free, --mem, --mem-per-cpu (advisory)", arguments: [
        ("-l h_vmem=2G", JobOptions.ResourceLimit.Resource.vmem, JobOptions.ResourceLimit(hard: 2 * gibibyte)),
        ("-l h_vmem=512M", .vmem, .init(hard: 512 * mebibyte)),
        ("-l h_vmem=1.5g", .vmem, .init(hard: 1_500_000_000)),
        ("-l h_vmem=4K", .vmem, .init(hard: 4096)),
        ("-l h_vmem=4k", .vmem, .init(hard: 4000)),
        ("-l h_vmem=1000", .vmem, .init(hard: 1000)),
        ("-l h_vmem=INFINITY", .vmem, .init(hard: .max)),
        ("-l h_vmem=2G,s_vmem=1G", .vmem, .init(soft: gibibyte, hard: 2 * gibibyte)),
        ("-l s_vmem=1G -l h_vmem=2G", .vmem, .init(soft: gibibyte, hard: 2 * gibibyte)),
        ("-l h_cpu=1:00:00", .cpu, .init(hard: 3600)),
        ("-l s_cpu=60", .cpu, .init(soft: 60)),
        ("-l h_data=1G", .data, .init(hard: gibibyte)),
        ("-l h_stack=8M", .stack, .init(hard: 8 * mebibyte)),
        ("-l h_fsize=1G", .fsize, .init(hard: gibibyte)),
        ("-l h_core=0k,h_core=1", .core, .init(hard: 1)),
    ])
    func limits(specification: String, resource: JobOptions.ResourceLimit.Resource, limit: JobOptions.ResourceLimit) throws {
        #expect(try read(specification).resourceLimits == [resource: limit])
    }

    @Test("advisory memory is recorded, not enforced")
    func advisoryMemory() throws {
        #expect(try read("-l mem_free=1G").memoryRequest == .perSlot(bytes: gibibyte))
        #expect(try read("-l mf=1G,virtual_free=2G").memoryRequest == .perSlot(bytes: 2 * gibibyte))
        #expect(try read("--mem=1000").memoryRequest == .perJob(bytes: 1000 * mebibyte))
        #expect(try read("--mem=4g").memoryRequest == .perJob(bytes: 4 * gibibyte))
        #expect(try read("--mem 2T").memoryRequest == .perJob(bytes: 2 << 40))
        #expect(try read("--mem-per-cpu=512K").memoryRequest == .perSlot(bytes: 512 * 1024))
        #expect(try read("-l h_rss=1G").resourceLimits.isEmpty)
    }

    @Test("options with no meaning on one machine are accepted and ignored", arguments: [
        "-shell y", "-shell no", "-b n", "-notify", "-q all.q", "-A project", "-P project", "-R y", "-r n",
        "-m bea", "-M me@example.org", "-ckpt ck", "-js 10", "-ac a=1", "-pty n", "-terse", "-masterq q",
        "-binding linear:1", "-binding set linear:2", "-S /bin/bash", "-w n", "-c n", "-C '#$'", "-now n", "-sync n",
        "-l arch=lx-amd64,hostname=node1,qname=all.q,num_proc=4,exclusive", "-l exclusive=true -l calendar=night",
        "--partition=all.q", "--account=a", "--qos=normal", "--reservation=r", "--constraint=intel", "--comment='a b'",
        "--mail-type=END,FAIL", "--mail-user=me@example.org", "--exclusive", "--exclusive=user", "--oversubscribe",
        "--nodelist=n1", "--exclude=n2", "--requeue", "--no-requeue", "--wckey=w", "--licenses=l", "--clusters=c",
        "--distribution=block", "--hint=nomultithread", "--mincpus=2", "--tmp=10G", "--time-min=10", "--parsable",
        "--quiet", "--verbose", "--propagate", "--get-user-env", "--threads-per-core=1", "--kill-on-invalid-dep=yes",
        "--nodes=1", "--nodes=1-4", "-N 1 --partition=p", "-s -k -O -Q --partition=p", "-v --partition=p",
        "-p debug -w n1 -x n2 -L l -M c --mem=1G",
    ])
    func ignored(specification: String) throws {
        var options = try read(specification)
        options.memoryRequest = nil
        #expect(options == JobOptions())
    }

    @Test("a later option overrides an earlier one; a category applies before the template's own specification")
    func overriding() throws {
        #expect(try read("-J b --job-name=c").jobName == "c")
        #expect(try read("-N a -N b").jobName == "b")
        #expect(try read("-l h_vmem=1G -l h_vmem=2G").resourceLimits[.vmem] == .init(hard: 2 * gibibyte))
        #expect(try read("--export=NONE --export=ALL").inheritsEnvironment)
        let categories = JobCategories(["big": "-pe smp 2 -l h_vmem=1G -N category"])
        let options = try categories.options(category: "big", nativeSpecification: "-N own --priority=3", sessionSlots: 8)
        #expect(options == expected {
            $0.slots = 2; $0.resourceLimits[.vmem] = .init(hard: gibibyte); $0.jobName = "own"; $0.priority = 3
        })
    }

    @Test("a category file takes the dialects too")
    func categoryFile() throws {
        let categories = try JobCategories(parsing: "smp -pe smp 4 -l h_vmem=2G\nslurm --cpus-per-task=2 --partition=p\n", origin: "cats", sessionSlots: 8)
        #expect(try categories.options(category: "smp", nativeSpecification: nil, sessionSlots: 8).slots == 4)
        #expect(try categories.options(category: "slurm", nativeSpecification: nil, sessionSlots: 8).slots == 2)
        let bad = #expect(throws: DRMAAError.self) { try JobCategories(parsing: "bad -l h_vmme=1G\n", origin: "cats") }
        #expect(bad?.code == .drmsInitFailed && bad?.message.contains("unknown resource 'h_vmme'") == true)
    }

    @Test("the dialect of a specification: its Grid Engine or Slurm options, else Grid Engine", arguments: [
        ("-p 5", Emulation.sge as Emulation?), ("-pe smp 2 -p 5", .sge), ("-l h_rt=1 -N x", .sge),
        ("-J x -p debug", .slurm), ("--partition=p -N 1", .slurm), ("--slots=2 -p 5", .sge),
        ("-pe smp 2 --partition=p", nil),
    ])
    func dialect(specification: String, dialect: Emulation?) {
        #expect(JobOptions.inferredDialect(of: specification) == dialect)
    }
}

@Suite("Native specification dialects: refusals name the option", .timeLimit(.minutes(1)))
struct NativeRefusalTests {
    @Test("typos, bad values and what LocalDRM cannot do are DENIED_BY_DRM with the option named", arguments: [
        ("--memory=4G", nil, "unknown option '--memory'"),
        ("--partiton=all.q", nil, "unknown option '--partiton' (did you mean --partition?)"),
        ("-pee smp 2", nil, "unknown option '-pee' (did you mean -pe?)"),
        ("-c4", Emulation.sge, "unknown option '-c4'"),
        ("-pdebug", nil, "unknown option '-pdebug'"),   // no Slurm option marks it Slurm's
        ("-Z", nil, "unknown option '-Z'"),
        ("-l h_vmme=2G", nil, "-l h_vmme=2G: unknown resource 'h_vmme'"),
        ("-l gpu=1", nil, "unknown resource 'gpu'"),
        ("-l h_vmem=2X", nil, "-l h_vmem=2X is invalid: h_vmem takes a memory amount"),
        ("-l h_vmem", nil, "resource h_vmem needs a value"),
        ("-l h_vmem=0", nil, "h_vmem must be more than 0"),
        ("-l h_rt=1:00", nil, "-l h_rt=1:00 is invalid: h_rt takes seconds, hours:minutes:seconds"),
        ("-l h_rt=1h", nil, "-l h_rt=1h is invalid"),
        ("-l mem_free=lots", nil, "-l mem_free=lots is invalid"),
        ("-l", nil, "option -l needs a value"),
        ("-l h_rt=1,,h_vmem=1G", nil, "-l h_rt=1,,h_vmem=1G is invalid"),
        ("--time=1:2:3:4", nil, "--time=1:2:3:4 is invalid: it takes minutes"),
        ("--time=-1", nil, "--time=-1 is invalid"),
        ("--mem=1.5G", nil, "--mem=1.5G is invalid: it takes a whole number of megabytes"),
        ("--mem-per-cpu=1X", nil, "--mem-per-cpu=1X is invalid"),
        ("-p high", nil, "-p high is invalid: it takes a whole number from -1023 to 1024"),
        ("-p 2000", Emulation.sge, "-p 2000 is too large: at most 1024"),
        ("-pe smp", nil, "option -pe needs a parallel environment name and a number of slots"),
        ("-pe smp x", nil, "-pe smp x is invalid"),
        ("-pe smp 4-2", nil, "-pe smp 4-2 is invalid"),
        ("-pe smp 0", nil, "-pe smp 0 is invalid"),
        ("--cpus-per-task=0", nil, "--cpus-per-task=0 is invalid"),
        ("--ntasks=2000000", nil, "--ntasks=2000000 is too large: at most 1048576 tasks"),
        ("--ntasks=2048 --cpus-per-task=1024", nil, "more than 1048576 slots"),
        ("-b maybe", nil, "-b maybe is invalid: it takes y or n"),
        ("-shell sometimes", nil, "-shell sometimes is invalid"),
        ("-j x", nil, "-j x is invalid: it takes y or n"),
        ("-N ''", nil, "option -N needs a non-empty value"),
        ("--job-name=", nil, "option --job-name needs a non-empty value"),
        ("--hold=1", nil, "option --hold takes no value"),
        ("-o a,b", nil, "-o a,b names several paths"),
        ("-v =x", nil, "-v =x is invalid"),
        ("--export=,A", nil, "--export=,A is invalid"),
        ("--nice=-5", nil, "--nice=-5 is invalid: it takes a whole number from 0 to 2147483645"),
        ("--nice=2147483646", nil, "--nice=2147483646 is too large: at most 2147483645"),
        ("-hold_jid 12", nil, "-hold_jid 12 is not available: LocalDRM does not order jobs by dependencies"),
        ("-hold_jid_ad 12", nil, "-hold_jid_ad 12 is not available"),
        ("--dependency=afterok:1", nil, "--dependency=afterok:1 is not available: LocalDRM does not order jobs by dependencies"),
        ("-d afterok:1", nil, "-d afterok:1 is not available"),
        ("-t 1-10", nil, "-t 1-10 is not available: array jobs are DRMAA bulk jobs: submit with drmaa_run_bulk_jobs"),
        ("--array=1-10%2", nil, "--array=1-10%2 is not available: array jobs are DRMAA bulk jobs"),
        ("-a 1-3", Emulation.slurm, "-a 1-3 is not available: array jobs"),
        ("-a 202601010000", nil, "-a 202601010000 is not available: use drmaa_start_time"),
        ("--begin=now+60", nil, "--begin=now+60 is not available: use drmaa_start_time"),
        ("--deadline=now+1hour", nil, "--deadline=now+1hour is not available: use drmaa_deadline_time"),
        ("-dl 202601010000", nil, "-dl 202601010000 is not available"),
        ("-sync y", nil, "-sync y is not available: wait for the job with drmaa_wait"),
        ("-now yes", nil, "-now yes is not available: LocalDRM queues every job"),
        ("--wait", nil, "--wait is not available"),
        ("--immediate", nil, "--immediate is not available"),
        ("--gres=gpu:1", nil, "--gres=gpu:1 is not available: LocalDRM allocates no GPUs"),
        ("--gpus=2", nil, "--gpus=2 is not available"),
        ("--nodes=2", nil, "--nodes=2 asks for 2 nodes: LocalDRM runs every job on this one machine"),
        ("-N 3", Emulation.slurm, "-N 3 asks for 3 nodes"),
        ("--nodes=0", nil, "--nodes=0 is invalid"),
        ("-p 5 -pe smp 2 --partition=x", nil, "it mixes Grid Engine and Slurm options, and '-p' means different things to them"),
        ("slots=2", nil, "'slots=2' is not an option"),
        ("-", nil, "'-' is not an option"),
        ("--=x", nil, "'--=x' is not an option"),
    ] as [(String, Emulation?, String)])
    func refused(specification: String, emulation: Emulation?, message: String) {
        let error = #expect(throws: DRMAAError.self) { try read(specification, emulation) }
        #expect(error?.code == .deniedByDRM)
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
        #expect(error?.message.hasPrefix("drmaa_native_specification '\(specification)': ") == true, "\(error?.message ?? "")")
    }

    @Test("values too large to hold say so and give the bound (DENIED_BY_DRM)", arguments: [
        ("-l h_vmem=99999999999999T", "-l h_vmem=99999999999999T is too large: a memory amount must be below 2^64 bytes (16 EiB, 16777216T); INFINITY means no limit"),
        ("-l s_fsize=1e30", "is invalid"),
        ("-l h_rt=99999999999999999999", "-l h_rt=99999999999999999999 is too large: a time can be at most 9223372036854775807 seconds; INFINITY means no limit"),
        ("-l h_cpu=2562047788015216:0:0", "-l h_cpu=2562047788015216:0:0 is too large: a time can be at most 9223372036854775807 seconds"),
        ("--time=999999999999999999999", "--time=999999999999999999999 is too large: a time can be at most 9223372036854775807 seconds; UNLIMITED means no limit"),
        ("--time=99999999999999999999:x", "--time=99999999999999999999:x is invalid: it takes minutes"),
        ("--time-min=999999999999999999999", "--time-min=999999999999999999999 is too large"),
        ("--mem=99999999999999999999", "--mem=99999999999999999999 is too large: a memory amount must be below 2^64 bytes"),
        ("-pe smp 99999999999999999999", "-pe smp 99999999999999999999 is too large: a job takes at most 1048576 slots"),
        ("-pe smp 2-99999999999999999999", "-pe smp 2-99999999999999999999 is too large: a job takes at most 1048576 slots"),
        ("--slots=9223372036854775808", "--slots=9223372036854775808 is too large: at most 1048576 slots"),
        ("--cpus-per-task=1048577", "--cpus-per-task=1048577 is too large: at most 1048576 CPUs"),
        ("-js 99999999999999999999", "-js 99999999999999999999 is too large: at most 9223372036854775807"),
        ("--nice=99999999999999999999", "--nice=99999999999999999999 is too large: at most 2147483645"),
        ("--nodes=99999999999999999999", "--nodes=99999999999999999999 asks for 99999999999999999999 nodes"),
        ("--priority=-99999999999999999999", "--priority=-99999999999999999999 is invalid: it takes a whole number from -1023 to 1024"),
    ])
    func tooLarge(specification: String, message: String) {
        let error = #expect(throws: DRMAAError.self) { try read(specification) }
        #expect(error?.code == .deniedByDRM)
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
    }

    @Test("a slot count beyond the session's says how many it has")
    func slotsBeyondSession() {
        let error = #expect(throws: DRMAAError.self) { try JobOptions().applying("--slots=2000000", sessionSlots: 4) }
        #expect(error?.message.contains("--slots=2000000 is too large: at most 1048576 slots (and no more than this session's 4 to ever start)") == true,
                "\(error?.message ?? "")")
    }

    @Test("a NUL byte in a value (only a Swift caller can pass one) is refused, naming the option and showing it as \\0", arguments: [
        ("-N a\0b", "-N"), ("-v A\0B=c", "-v"), ("-v A=b\0c", "-v"), ("--job-name=x\0", "--job-name"),
        ("-o /tmp/a\0b", "-o"), ("--partition=p\0", "--partition"), ("-l h_rt=1\0", "-l"), ("-pe smp\0 2", "-pe"),
    ])
    func nulByte(specification: String, option: String) {
        let error = #expect(throws: DRMAAError.self) { try read(specification) }
        #expect(error?.code == .deniedByDRM)
        #expect(error?.message.contains("the value of \(option) contains a NUL byte") == true, "\(error?.message ?? "")")
        #expect(error?.message.utf8.contains(0) == false)
        #expect(error?.message.contains("\\0") == true)
    }
}

@Suite("Native specification dialects: effects computed for a job", .timeLimit(.minutes(1)))
struct NativeEffectTests {
    private func fill(_ specification: String, _ template: JobTemplate = JobTemplate(), cwd: String = "/submit") throws -> JobTemplate {
        let environment = ["HOME": "/home/me", "FOO": "from-submitter"]
        return try read(specification).filling(template, environmentValue: { environment[$0] }, currentDirectory: { cwd })
    }

    @Test("options fill only the attributes the template leaves unset (explicit DRMAA attributes win)")
    func precedence() throws {
        let filled = try fill("-N native -wd /native -l h_rt=100,s_rt=50 -h -j y")
        #expect(filled.jobName == "native" && filled.workingDirectory == "/native")
        #expect(filled.hardWallclockTimeLimit == 100 && filled.softWallclockTimeLimit == 50)
        #expect(filled.jobSubmissionState == .hold && filled.joinFiles)

        var template = JobTemplate()
        template.jobName = "explicit"
        template.workingDirectory = "/explicit"
        template.hardWallclockTimeLimit = 5
        template.softWallclockTimeLimit = 4
        template.jobSubmissionState = .active
        template.joinFiles = false
        let kept = try fill("-N native -wd /native -l h_rt=100,s_rt=50 -h -j y", template)
        #expect(kept == template)
    }

    @Test("-cwd and relative paths resolve against the submitting process's current directory")
    func workingDirectory() throws {
        #expect(try fill("-cwd").workingDirectory == "/submit")
        #expect(try fill("--chdir=run/1").workingDirectory == "/submit/run/1")
        #expect(try fill("-wd /abs").workingDirectory == "/abs")
        let error = #expect(throws: DRMAAError.self) {
            try read("-cwd").filling(JobTemplate(), environmentValue: { _ in nil }, currentDirectory: { () throws(Errno) -> String in throw Errno(rawValue: ENOENT) })
        }
        #expect(error?.code == .deniedByDRM && error?.message.contains("current directory") == true)
    }

    @Test("environment entries come before drmaa_v_env's, which win; a name alone takes the submitter's value")
    func environment() throws {
        var template = JobTemplate()
        template.jobEnvironment = ["A": "template"]
        let filled = try fill("-v A=native,B=native,FOO,MISSING", template)
        #expect(try filled.vectorAttribute("drmaa_v_env") == ["A=native", "B=native", "FOO=from-submitter", "A=template"])
        #expect(filled.jobEnvironment == ["A": "template", "B": "native", "FOO": "from-submitter"])
    }

    @Test("unlimited times set no limit; Slurm's --output without --error joins the streams")
    func slurmDefaults() throws {
        #expect(try fill("--time=UNLIMITED")[scalar: .hardWallclockTimeLimit] == nil)
        #expect(try fill("--output=o.txt").joinFiles)
        #expect(try !fill("--output=o.txt --error=e.txt").joinFiles)
        var template = JobTemplate()
        template.errorPath = ":/tmp/e"
        #expect(try !fill("--output=o.txt", template).joinFiles)
        #expect(try !fill("-o o.txt").joinFiles)
    }

    @Test("stream paths: Grid Engine's $JOB_ID, $JOB_NAME, $TASK_ID, host part; Slurm's %j, %A, %a, %x, %%, padding")
    func streamPatterns() {
        let single = JobRequest(jobID: "7", bulkJobID: nil, taskIndex: nil, remoteCommand: "/bin/true", arguments: [], environment: [],
                                workingDirectory: "/w", joinFiles: false, jobName: "name", hold: false, submissionTime: 0)
        var task = single
        (task.jobID, task.bulkJobID, task.taskIndex) = ("8.3", "8", 3)
        func sge(_ pattern: String, _ job: JobRequest) -> String {
            JobOptions.StreamPath(pattern, dialect: .sge).expanded(for: job, homeDirectory: "/home/me")
        }
        func slurm(_ pattern: String, _ job: JobRequest) -> String {
            JobOptions.StreamPath(pattern, dialect: .slurm).expanded(for: job, homeDirectory: "/home/me")
        }
        #expect(sge("$JOB_NAME.o$JOB_ID", single) == "/w/name.o7")
        #expect(sge("host:/logs/$JOB_NAME.$JOB_ID.$TASK_ID", task) == "/logs/name.8.3")
        #expect(sge("$HOME/x.$TASK_ID", single) == "/home/me/x.undefined")
        #expect(sge("$OTHER/$", single) == "/w/$OTHER/$")
        #expect(slurm("slurm-%j.out", single) == "/w/slurm-7.out")
        #expect(slurm("/l/%x_%A_%a.%4a.%%.%q", task) == "/l/name_8_3.0003.%.%q")
        #expect(slurm("a:b-%a", single) == "/w/a:b-4294967294")
    }

    @Test("a Slurm padding width beyond 10 pads to 10, as Slurm: a huge one makes no huge path")
    func slurmWidthBounded() {
        let job = JobRequest(jobID: "7", bulkJobID: nil, taskIndex: nil, remoteCommand: "/bin/true", arguments: [], environment: [],
                             workingDirectory: "/w", joinFiles: false, jobName: "name", hold: false, submissionTime: 0)
        func slurm(_ pattern: String) -> String {
            JobOptions.StreamPath(pattern, dialect: .slurm).expanded(for: job, homeDirectory: "/home/me")
        }
        #expect(slurm("%10j") == "/w/0000000007")
        #expect(slurm("%11j") == "/w/0000000007")
        #expect(slurm("%999999999j.out") == "/w/0000000007.out")
    }

    @Test("a resource limit as Grid Engine's shepherd sets it: × slots, hard alone sets both, never above the inherited hard limit")
    func resourceLimit() {
        let unlimited = rlimit(rlim_cur: .max, rlim_max: .max)
        let vmem = JobOptions.ResourceLimit(hard: 2 * gibibyte)
        let twoSlots = vmem.applied(to: unlimited, resource: .vmem, slots: 2)
        #expect(twoSlots.rlim_cur == 4 * gib && twoSlots.rlim_max == 4 * gib)
        let capped = vmem.applied(to: rlimit(rlim_cur: gib, rlim_max: gib), resource: .vmem, slots: 1)
        #expect(capped.rlim_cur == gib && capped.rlim_max == gib)
        let softOnly = JobOptions.ResourceLimit(soft: 3 * gibibyte).applied(to: rlimit(rlim_cur: .max, rlim_max: 2 * gib), resource: .vmem, slots: 1)
        #expect(softOnly.rlim_cur == 2 * gib && softOnly.rlim_max == 2 * gib)
        let fsize = JobOptions.ResourceLimit(hard: gibibyte).applied(to: unlimited, resource: .fsize, slots: 4)
        #expect(fsize.rlim_max == gib)  // per process: not scaled
        let saturated = JobOptions.ResourceLimit(hard: .max - 1).applied(to: unlimited, resource: .vmem, slots: 2)
        #expect(saturated.rlim_max == .max)
    }
}
