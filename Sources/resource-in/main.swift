import ConcourseResource
import Logging

// Once per process: log lines go to stderr (stdout carries only the step's JSON).
LoggingSystem.bootstrap(StreamLogHandler.standardError)
await ResourceMain.main(.`in`)
