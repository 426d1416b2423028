import Foundation
import Testing
@testable import PlaypenAttribution

@Suite("Projection matrices")
struct ProjectionTests {
    @Test("MD5 matches the RFC 1321 test suite")
    func md5Vectors() {
        let vectors: [(String, String)] = [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            ("abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
            ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"),
            ("12345678901234567890123456789012345678901234567890123456789012345678901234567890",
             "57edf4a22be3c955ac49da2e2107b67a"),
        ]
        for (input, expected) in vectors { #expect(MD5.hex(input) == expected, "md5(\(input))") }
        #expect(MD5.hex("model.model.layers.0.self_attn.q_proj.lora_A.default/left")
            == "03819289abee8509ee65e5ef46b306eb")
    }

    @Test("Philox key and first block match the reference test vector")
    func philoxVector() {
        let id = "model.model.layers.0.self_attn.q_proj.lora_A.default/left"
        let key = ProjectionMatrix.philoxKey(id)
        #expect(key.0 == 0x8992_8103 && key.1 == 0x0985_eeab)
        let x = philox4x32((0, 0, 0, 0), key: key)
        #expect(x.0 == 0xd8a9_64fc && x.1 == 0xf0ff_8ab8 && x.2 == 0x55d7_ee52 && x.3 == 0x03be_d71a)
        let a = ProjectionMatrix.signs(identifier: id, rows: 2, cols: 16, generator: .philox)
        let row0 = a[0..<16].map { $0 > 0 ? "+" : "-" }.joined()
        let row1 = a[16..<32].map { $0 > 0 ? "+" : "-" }.joined()
        #expect(row0 == "--++++++--+--++-")
        #expect(row1 == "+-++++--+-+-+++-")
    }

    @Test("Philox matrices equal Bergson 2.5.1's bit for bit")
    func philoxGolden() throws {
        let cases = try #require((Fixture.json("projection_cases.json") as? [String: Any])?["philox"] as? [[String: Any]])
        #expect(cases.count == 6)
        for c in cases {
            let golden = try Fixture.npy(c["file"] as! String)
            let rows = c["rows"] as! Int, cols = c["cols"] as! Int
            #expect(golden.shape == [rows, cols])
            let scale = ProjectionScale(rawValue: c["scale"] as! String)!
            let id = ProjectionMatrix.identifier(module: c["module"] as! String,
                                                 side: .init(rawValue: c["side"] as! String)!, seed: c["seed"] as? Int)
            #expect(id == c["identifier"] as! String)
            #expect(MD5.hex(id) == c["md5"] as! String)
            let mine = ProjectionMatrix.make(identifier: id, rows: rows, cols: cols, generator: .philox, scale: scale)
            #expect(mine.map(\.bitPattern) == golden.float32.map(\.bitPattern), "\(id)")
        }
    }

    @Test("PCG64 matrices equal the Bergson 0.5.1 recipe (NumPy PCG64) bit for bit")
    func pcgGolden() throws {
        let cases = try #require((Fixture.json("projection_cases.json") as? [String: Any])?["pcg64"] as? [[String: Any]])
        #expect(cases.count == 3)
        for c in cases {
            let golden = try Fixture.npy(c["file"] as! String)
            let rows = c["rows"] as! Int, cols = c["cols"] as! Int
            let mine = ProjectionMatrix.make(identifier: c["identifier"] as! String, rows: rows, cols: cols,
                                             generator: .pcg64, scale: .rowNorm)
            #expect(mine.map(\.bitPattern) == golden.float32.map(\.bitPattern), "\(c["identifier"]!)")
        }
        // Reference test vector: first 8 bytes of Generator.bytes for the q_proj lora_A left seed.
        var pcg = PCG64(seed: 8_460_305_480_870_269_182)
        let bytes = pcg.bytes(8).map { String(format: "%02x", $0) }.joined()
        #expect(bytes == "a8eeece37eb320c9")
    }
}
