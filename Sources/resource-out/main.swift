import ConcourseResource

await ResourceMain.main(.out)
