import ConcourseResource

await ResourceMain.main(.`in`)
