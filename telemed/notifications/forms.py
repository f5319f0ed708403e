from django import forms


class MarkReadForm(forms.Form):
    notification = forms.IntegerField(required=False, min_value=1)


class PushDeviceForm(forms.Form):
    device = forms.IntegerField(min_value=1)
