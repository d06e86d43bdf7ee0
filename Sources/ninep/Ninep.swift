@main
struct Ninep { static func main() {} }
