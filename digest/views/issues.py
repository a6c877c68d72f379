from django.http import HttpResponse


def home(request):  # the foundation's reading pages replace these stubs
    return HttpResponse("todo")


def archive(request):
    return HttpResponse("todo")


def issue_detail(request, week):
    return HttpResponse("todo")
