// Work over every record that the page's thread must do, cut into slices with a task boundary
// between them, so a frame can be drawn (and a key handled) between two slices.

/** Yields to the event loop, so a frame can be drawn between two slices of work. */
export const nextTask = () => new Promise((ok) => setTimeout(ok, 0));

/** Runs `step()` (it returns the share done) slice after slice until 1; false when `live()`
 * turns false first. */
export async function inSlices(step, live) {
  for (let done = 0; done < 1; ) {
    done = step();
    await nextTask();
    if (!live()) return false;
  }
  return true;
}
