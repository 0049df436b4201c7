import ConcourseResource

await ResourceMain.main(.check)
