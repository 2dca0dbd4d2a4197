import BatonCLI

/// The `baton` executable: the commands live in BatonCLI.
@main
struct Entrypoint {
    static func main() async {
        await Baton.runAndExit()
    }
}
