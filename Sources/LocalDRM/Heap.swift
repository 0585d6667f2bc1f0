/// A binary min-heap: the timers' deadlines and the run queue's start order.
struct Heap<Element: Comparable> {
    private(set) var elements: [Element] = []

    var isEmpty: Bool { elements.isEmpty }
    var count: Int { elements.count }
    /// The smallest element.
    var min: Element? { elements.first }

    mutating func insert(_ element: Element) {
        elements.append(element)
        var child = elements.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard elements[child] < elements[parent] else { break }
            elements.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns the smallest element.
    @discardableResult
    mutating func popMin() -> Element? {
        guard !elements.isEmpty else { return nil }
        elements.swapAt(0, elements.count - 1)
        let smallest = elements.removeLast()
        siftDown(from: 0)
        // An array never gives back capacity by itself: after a burst (100,000 queued tasks),
        // copy what is left into a smaller one. Amortised O(1) per pop.
        if elements.capacity > 4096, elements.count * 8 < elements.capacity {
            var smaller: [Element] = []
            smaller.reserveCapacity(elements.count * 2)
            smaller.append(contentsOf: elements)
            elements = smaller
        }
        return smallest
    }

    /// Keeps only the elements for which `keep` is true, in O(n).
    mutating func filter(_ keep: (Element) -> Bool) {
        elements.removeAll { !keep($0) }
        for index in stride(from: elements.count / 2 - 1, through: 0, by: -1) { siftDown(from: index) }
    }

    private mutating func siftDown(from start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < elements.count, elements[left] < elements[smallest] { smallest = left }
            if right < elements.count, elements[right] < elements[smallest] { smallest = right }
            if smallest == parent { return }
            elements.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
