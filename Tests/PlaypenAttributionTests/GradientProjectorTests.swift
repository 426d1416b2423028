import Foundation
import PlaypenIO
import Testing
@testable import PlaypenAttribution

@Suite("Projected per-example gradients")
struct GradientProjectorTests {
    struct Case {
        let layout: GradientLayout
        let x: [[Float]]
        let g: [[Float]]
        let lengths: [Int]
    }

    static func loadCase(projection: ProjectionConfig) throws -> (Case, [String: Any]) {
        let json = try #require(Fixture.json("kernel_cases.json") as? [String: Any])
        let lengths = json["lengths"] as! [Int]
        let modules = (json["modules"] as! [[String: Any]]).map {
            GradientModule(name: $0["name"] as! String, outFeatures: $0["out"] as! Int, inFeatures: $0["in"] as! Int)
        }
        var xs: [[Float]] = [], gs: [[Float]] = []
        for m in json["modules"] as! [[String: Any]] {
            xs.append(try Fixture.npy(m["x"] as! String).float32)
            gs.append(try Fixture.npy(m["g"] as! String).float32)
        }
        return (Case(layout: GradientLayout(modules: modules, projection: projection), x: xs, g: gs, lengths: lengths), json)
    }

    static func offsets(_ lengths: [Int]) -> [Int] { lengths.reduce(into: [0]) { $0.append($0.last! + $1) } }

    static func relativeError(_ a: [Float], _ b: [Double]) -> Double {
        var num = 0.0, den = 0.0
        for (x, y) in zip(a, b) {
            num += (Double(x) - y) * (Double(x) - y)
            den += y * y
        }
        return (num / den).squareRoot()
    }

    @Test("Projected gradients equal autograd's dL/dW projected with Bergson's matrices (rel <= 1e-4)")
    func matchesAutograd() throws {
        let json = try #require(Fixture.json("kernel_cases.json") as? [String: Any])
        for entry in json["projections"] as! [[String: Any]] {
            let projection = ProjectionConfig(dim: entry["p"] as! Int,
                                              scale: ProjectionScale(rawValue: entry["scale"] as! String)!,
                                              generator: .philox, seed: entry["seed"] as? Int)
            let (c, _) = try Self.loadCase(projection: projection)
            let module = entry["module"] as! Int
            let projector = GradientProjector(layout: c.layout)
            let mine = projector.project(module: module, x: c.x[module], g: c.g[module],
                                         tokenOffsets: Self.offsets(c.lengths))
            let golden = try Fixture.npy(entry["file"] as! String)
            #expect(golden.shape == [c.lengths.count, projection.dim * projection.dim])
            let err = Self.relativeError(mine, golden.values)
            #expect(err <= 1e-4, "module \(module) p \(projection.dim): rel err \(err)")
            // Per example, too (the 1-token example is the smallest signal).
            let w = projection.dim * projection.dim
            for b in c.lengths.indices {
                let e = Self.relativeError(Array(mine[(b * w)..<((b + 1) * w)]), Array(golden.values[(b * w)..<((b + 1) * w)]))
                #expect(e <= 1e-4, "module \(module) example \(b): rel err \(e)")
            }
        }
    }

    @Test("Unprojected (dim 0) gradients equal autograd's per-example dL/dW")
    func unprojected() throws {
        let (c, json) = try Self.loadCase(projection: ProjectionConfig(dim: 0))
        let projector = GradientProjector(layout: c.layout)
        for (module, m) in (json["modules"] as! [[String: Any]]).enumerated() {
            let mine = projector.project(module: module, x: c.x[module], g: c.g[module], tokenOffsets: Self.offsets(c.lengths))
            let golden = try Fixture.npy(m["full"] as! String)
            let err = Self.relativeError(mine, golden.values)
            #expect(err <= 1e-5, "module \(module): rel err \(err)")
        }
    }

    @Test("An example's projected gradient does not depend on its batch (bit for bit)")
    func batchInvariance() throws {
        let (c, _) = try Self.loadCase(projection: ProjectionConfig(dim: 32))
        let projector = GradientProjector(layout: c.layout)
        let module = 0
        let m = c.layout.modules[module]
        let offsets = Self.offsets(c.lengths)
        let all = projector.project(module: module, x: c.x[module], g: c.g[module], tokenOffsets: offsets)
        let w = c.layout.width(module)
        for b in c.lengths.indices {
            let xs = Array(c.x[module][(offsets[b] * m.inFeatures)..<(offsets[b + 1] * m.inFeatures)])
            let gs = Array(c.g[module][(offsets[b] * m.outFeatures)..<(offsets[b + 1] * m.outFeatures)])
            let alone = projector.project(module: module, x: xs, g: gs, tokenOffsets: [0, c.lengths[b]])
            #expect(alone.map(\.bitPattern) == Array(all[(b * w)..<((b + 1) * w)]).map(\.bitPattern), "example \(b)")
        }
        // Reversed batch order gives the same rows.
        var rx: [Float] = [], rg: [Float] = []
        var rlengths: [Int] = []
        for b in c.lengths.indices.reversed() {
            rx += c.x[module][(offsets[b] * m.inFeatures)..<(offsets[b + 1] * m.inFeatures)]
            rg += c.g[module][(offsets[b] * m.outFeatures)..<(offsets[b + 1] * m.outFeatures)]
            rlengths.append(c.lengths[b])
        }
        let reversed = projector.project(module: module, x: rx, g: rg, tokenOffsets: Self.offsets(rlengths))
        let n = c.lengths.count
        for b in 0..<n {
            #expect(Array(reversed[((n - 1 - b) * w)..<((n - b) * w)]).map(\.bitPattern)
                == Array(all[(b * w)..<((b + 1) * w)]).map(\.bitPattern))
        }
    }

    @Test("LoRA layout: Bergson's module order and widths")
    func loraLayout() {
        let layout = GradientLayout.lora(layers: 2, rank: 16,
                                         shapes: ["q_proj": (1024, 640), "k_proj": (256, 640), "v_proj": (256, 640),
                                                  "o_proj": (640, 1024), "gate_proj": (2048, 640),
                                                  "up_proj": (2048, 640), "down_proj": (640, 2048)],
                                         projection: ProjectionConfig(dim: 32))
        #expect(layout.modules.count == 28)
        #expect(layout.modules.map(\.name) == GradientLayout.loraModuleNames(layers: 2))
        #expect(layout.modules[0].name == "model.model.layers.0.self_attn.q_proj.lora_A.default")
        #expect(layout.modules[1].name == "model.model.layers.0.self_attn.q_proj.lora_B.default")
        #expect(layout.modules[13].name == "model.model.layers.0.mlp.down_proj.lora_B.default")
        #expect(layout.modules[1].outFeatures == 1024 && layout.modules[1].inFeatures == 16)
        #expect(layout.rowWidth == 28 * 1024)
        var other = layout
        other.projection.seed = 1
        #expect(layout.mismatch(other) == "projection seed none vs 1")
    }
}

@Suite("Gradient collector")
struct GradientCollectorTests {
    @Test("Collector rows, H and reduce do not depend on batching; H and mean equal direct computation")
    func batching() throws {
        let (c, _) = try GradientProjectorTests.loadCase(projection: ProjectionConfig(dim: 8))
        let lengths = c.lengths
        let tokenOffsets = GradientProjectorTests.offsets(lengths)
        func run(batches: [[Int]]) throws -> (ids: [String], rows: [Float], h: SecondMoment, mean: [Float]) {
            var ids: [String] = [], rows: [Float] = []
            let collector = GradientCollector(layout: c.layout, accumulateSecondMoment: true,
                                              reduce: (true, .bergson05)) { id, row in
                ids.append(id)
                rows += row
            }
            for batch in batches {
                var xs = [[Float]](repeating: [], count: 2), gs = [[Float]](repeating: [], count: 2)
                var offs = [0]
                for b in batch {
                    for m in 0..<2 {
                        let mod = c.layout.modules[m]
                        xs[m] += c.x[m][(tokenOffsets[b] * mod.inFeatures)..<(tokenOffsets[b + 1] * mod.inFeatures)]
                        gs[m] += c.g[m][(tokenOffsets[b] * mod.outFeatures)..<(tokenOffsets[b + 1] * mod.outFeatures)]
                    }
                    offs.append(offs.last! + lengths[b])
                }
                collector.beginBatch(rowIds: batch.map { "ex\($0)" }, tokenOffsets: offs)
                for m in [1, 0] {
                    let mod = c.layout.modules[m]
                    collector.module(m, x: xs[m], ldx: mod.inFeatures, g: gs[m], ldg: mod.outFeatures)
                }
                try collector.endBatch()
            }
            return (ids, rows, collector.secondMoment!, collector.reducer!.mean)
        }
        let one = try run(batches: [[0, 1, 2, 3]])
        let split = try run(batches: [[0], [1, 2], [3]])
        #expect(one.ids == ["ex0", "ex1", "ex2", "ex3"] && split.ids == one.ids)
        #expect(one.rows.map(\.bitPattern) == split.rows.map(\.bitPattern))
        #expect(one.mean == split.mean)
        // H equals (1/N) Σ v vᵀ computed directly in Double from the rows.
        let w = c.layout.rowWidth
        for m in 0..<2 {
            let d = c.layout.width(m), off = c.layout.offsets[m]
            let h1 = one.h.mean(m), h2 = split.h.mean(m)
            let scale = Double(h1.map(abs).max()!)
            for i in 0..<d {
                for j in 0..<d {
                    var s = 0.0
                    for r in 0..<4 { s += Double(one.rows[r * w + off + i]) * Double(one.rows[r * w + off + j]) }
                    s /= 4
                    #expect(abs(Double(h1[i * d + j]) - s) <= 1e-6 * scale)
                    #expect(abs(Double(h2[i * d + j]) - s) <= 1e-6 * scale)
                }
            }
        }
        // Mean of unit-normalised rows.
        for k in [0, 7, w - 1] {
            var s = 0.0
            for r in 0..<4 {
                var ss = 0.0
                for j in 0..<w { ss += Double(one.rows[r * w + j]) * Double(one.rows[r * w + j]) }
                s += Double(one.rows[r * w + k]) / (ss.squareRoot() + Double(Float.ulpOfOne))
            }
            #expect(abs(Double(one.mean[k]) - s / 4) <= 1e-6 * max(abs(s), 1e-3))
        }
    }

    @Test("A batch missing a module, or with NaN gradients, is an error naming it")
    func errors() throws {
        let (c, _) = try GradientProjectorTests.loadCase(projection: ProjectionConfig(dim: 4))
        let collector = GradientCollector(layout: c.layout) { _, _ in }
        collector.beginBatch(rowIds: ["a"], tokenOffsets: [0, 5])
        collector.module(0, x: c.x[0], ldx: 24, g: c.g[0], ldg: 4)
        #expect(throws: PlaypenError("gradient batch ended without module model.model.layers.0.self_attn.q_proj.lora_B.default")) {
            try collector.endBatch()
        }
        var g = c.g[1]
        g[3] = .nan
        collector.beginBatch(rowIds: ["a"], tokenOffsets: [0, 5])
        collector.module(0, x: c.x[0], ldx: 24, g: c.g[0], ldg: 4)
        collector.module(1, x: c.x[1], ldx: 4, g: g, ldg: 40)
        #expect(throws: PlaypenError("non-finite gradients for row(s) a")) { try collector.endBatch() }
    }
}
