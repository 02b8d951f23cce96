import Denoising
import Foundation
import Testing

/// `mpirun -n R ldct …` as root (the project's machines and CI run as root).
func mpirun(_ ranks: Int, _ arguments: [String]) throws -> (code: Int32, out: String, err: String) {
    try tool("mpirun", ["-n", "\(ranks)", "--oversubscribe", try ldctBinary()] + arguments,
             environment: ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OMPI_MCA_btl": "self,vader"])
}

func weights(_ path: String) throws -> [Float] { try ModelFile.load(path).0.parameters }

@Suite("data-parallel training over MPI (mpirun -n 2 ldct train)", .serialized)
struct TrainMPICLITests {
    @Test("2 ranks equal 1 process at the same global batch (within float tolerance); resume under 2 ranks is bit-identical; bad batch refused")
    func twoRanks() throws {
        let work = scratch()
        defer { try? FileManager.default.removeItem(atPath: work) }
        #expect(try ldct("phantom", "-o", work + "/normal", "--slices", "2", "--size", "128", "--seed", "3").code == 0)
        #expect(try ldct("simulate", work + "/normal", "-o", work + "/low", "--dose", "0.25", "--i0", "100000", "--seed", "2").code == 0)
        let common = ["--normal", work + "/normal", "--low", work + "/low", "--width", "8", "--patch", "32", "--batch", "4",
                      "--seed", "3", "--checkpoint-every", "4", "--lr", "1e-3"]
        let one = try ldct(["train", "-o", work + "/one", "--steps", "8"] + common)
        #expect(one.code == 0, "\(one.err)")
        let two = try mpirun(2, ["train", "-o", work + "/two", "--steps", "8"] + common)
        #expect(two.code == 0, "\(two.out)\(two.err)")
        #expect(two.err.contains("2 MPI rank(s)"))
        // The same training: the global batch is split, the gradients of the halves averaged.
        let a = try weights(work + "/one/model.safetensors"), b = try weights(work + "/two/model.safetensors")
        let diff = zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
        let scale = a.map(abs).max() ?? 0
        #expect(a.count == b.count && diff <= 1e-4 * max(scale, 1), "max |Δw| \(diff)")
        let lossOne = try String(contentsOfFile: work + "/one/log.csv", encoding: .utf8).split(separator: "\n").dropFirst().map { Double($0.split(separator: ",")[1])! }
        let lossTwo = try String(contentsOfFile: work + "/two/log.csv", encoding: .utf8).split(separator: "\n").dropFirst().map { Double($0.split(separator: ",")[1])! }
        #expect(lossOne.count == 8 && lossTwo.count == 8)
        for (x, y) in zip(lossOne, lossTwo) { #expect(abs(x - y) <= 1e-4 * x, "loss \(x) vs \(y)") }

        // Interrupted at step 4 and resumed under 2 ranks: bit-identical to the uninterrupted 2-rank run.
        #expect(try mpirun(2, ["train", "-o", work + "/resumed", "--steps", "4"] + common).code == 0)
        // The weights move between steps 4 and 8 far more than the two paths differ.
        let w4 = try weights(work + "/resumed/model.safetensors")
        #expect((zip(b, w4).map { abs($0 - $1) }.max() ?? 0) > 100 * diff)
        let resumed = try mpirun(2, ["train", "--resume", work + "/resumed", "--steps", "8"])
        #expect(resumed.code == 0, "\(resumed.err)")
        #expect(try weights(work + "/resumed/model.safetensors") == b)

        // A global batch that does not split evenly: refused by every rank, the job ends.
        let odd = try mpirun(2, ["train", "-o", work + "/odd", "--steps", "2"] + common.map { $0 == "4" ? "3" : $0 })
        #expect(odd.code != 0 && odd.err.contains("must be a multiple of the number of ranks"), "\(odd.err)")
    }
}
